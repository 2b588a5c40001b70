
Ù
@24fa469135c8a41f5cdca27702cedae559181b0360893ba01cad918700845a705
cripod$8d0f5b1c-2a3e-4f60-9b7c-1e2d3c4b5a69crins ûÊÔøÚ«õ* 
io.kubernetes.pod.namecripod*$
io.kubernetes.pod.namespacecrins*
appdemo*=
io.kubernetes.pod.uid$8d0f5b1c-2a3e-4f60-9b7c-1e2d3c4b5a692"
kubernetes.io/config.sourceapi2
example.com/noterecorded