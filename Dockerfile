# The workingset image: the static binary, the CA bundle for kubeconfig and
# kubelet TLS, and a non-root user; nothing else.
#
# Build it with scripts/image, which stages the build context (the static
# binary from scripts/static-binary, the host's CA bundle, passwd/group for
# the user) and needs no registry: FROM scratch pulls nothing.
FROM scratch
COPY passwd group /etc/
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY workingset /usr/bin/workingset
# 65532 is "nonroot" in distroless images too; the agent needs the host's
# cgroup and /proc mounts (read-only) and, to read other users' /proc
# entries, a securityContext that grants it.
USER 65532:65532
ENTRYPOINT ["/usr/bin/workingset"]
CMD ["--help"]
