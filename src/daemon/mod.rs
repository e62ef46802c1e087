//! The daemon shell: start, reload, drift repair, stop; it only wires the
//! config, the checker engine, the reconciler and the IPVS table together.
