//! The reconciler: the desired IPVS table as a function of the config and the
//! health states, diffed against the kernel's own dump.
