/* LD_PRELOAD shim: pretend the IPVS generic netlink family exists and every
 * request succeeds with an empty answer, so ipvsadm's argument handling can
 * run on a kernel without IPVS. */
int genl_connect(void *sk) { (void)sk; return 0; }
int genl_ctrl_resolve(void *sk, const char *name) { (void)sk; (void)name; return 42; }
int nl_send_auto_complete(void *sk, void *msg) { (void)sk; (void)msg; return 0; }
int nl_send_auto(void *sk, void *msg) { (void)sk; (void)msg; return 0; }
int nl_recvmsgs_default(void *sk) { (void)sk; return 0; }
