//! `lvsadm`: ipvsadm 1.31's grammar, listings, messages and exit codes.
//! May use: `model`, `kernel`.
