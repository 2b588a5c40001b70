//! kubelet stats/v1alpha1 Summary API objects (being written).
