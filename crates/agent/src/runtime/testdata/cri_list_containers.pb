

@63694019eea0ffd4b0ad5568f911e75f2ed911d82568dafae3159325d38dc165@24fa469135c8a41f5cdca27702cedae559181b0360893ba01cad918700845a70
app"+
)docker.io/library/workingset-busybox:test*Gsha256:22ed3c07e9d0e0e32dd672e8e46fb250afd0cc40a162d74b0de1ee93c450e26808ÜôÁöøÚ«õB#
io.kubernetes.container.nameappB=
io.kubernetes.pod.uid$8d0f5b1c-2a3e-4f60-9b7c-1e2d3c4b5a69B$
io.kubernetes.pod.namespacecrinsB 
io.kubernetes.pod.namecripodJ(
io.kubernetes.container.hash5e6f7a8bJ)
$io.kubernetes.container.restartCount0
–
@a1adc270b9bb59d9f5bf6e786c34987d5cf2b439320765e001bbaf065c392f47@24fa469135c8a41f5cdca27702cedae559181b0360893ba01cad918700845a70	
sidecar"+
)docker.io/library/workingset-busybox:test*Gsha256:22ed3c07e9d0e0e32dd672e8e46fb250afd0cc40a162d74b0de1ee93c450e26808Åõ‹‹ùÚ«õB=
io.kubernetes.pod.uid$8d0f5b1c-2a3e-4f60-9b7c-1e2d3c4b5a69B'
io.kubernetes.container.namesidecarB 
io.kubernetes.pod.namecripodB$
io.kubernetes.pod.namespacecrinsJ(
io.kubernetes.container.hash5e6f7a8bJ)
$io.kubernetes.container.restartCount0