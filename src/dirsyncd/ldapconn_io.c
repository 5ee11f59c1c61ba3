/* ldapconn_io.c - the ldapconn module's own lber Sockbuf layer: counts
 * what libldap writes and bounds the synchronous TLS handshake.  It never
 * blocks longer than the deadline it is given. */
#include <errno.h>
#include <poll.h>

#include "compat.h"
#include "ldapconn_internal.h"

/* It sits just above the TCP/IPC provider and does two things.  It counts
 * the bytes libldap writes, so we know when a partly written request
 * still progresses (ldapconn.c, ldapconn_on_writable).  And it bounds the TLS
 * handshake: ldap_install_tls() runs it synchronously.  libldap 2.5 bounds
 * it by LDAP_OPT_NETWORK_TIMEOUT only when built with
 * LDAP_USE_NON_BLOCKING_TLS (2.6's default; Debian's 2.5 lacks it) and
 * otherwise, on our non-blocking socket, calls the handshake again and
 * again without waiting - a busy loop with no end if the server stays
 * silent.  So while io->bounded is set the layer waits for the socket
 * with poll() until the deadline, then fails with ETIMEDOUT, which the
 * TLS library treats as fatal. */
static int
ldapconn_sbio_wait(Sockbuf_IO_Desc *sbiod, short events)
{
	struct ldapconn_io *io = sbiod->sbiod_pvt;
	struct pollfd pfd = { .fd = -1, .events = events };
	long long ms = io->deadline - ds_monotonic_ms();

	ber_sockbuf_ctrl(sbiod->sbiod_sb, LBER_SB_OPT_GET_FD, &pfd.fd);
	if (ms <= 0 || poll(&pfd, 1, (int)ms) == 0) {
		io->timed_out = true;
		errno = ETIMEDOUT;
		return -1;
	}
	return 0; /* ready, or EINTR: try again */
}

static bool
ldapconn_sbio_again(Sockbuf_IO_Desc *sbiod, ber_slen_t n)
{
	struct ldapconn_io *io = sbiod->sbiod_pvt;

	return n < 0 && io->bounded &&
	       (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

static ber_slen_t
ldapconn_sbio_read(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len)
{
	ber_slen_t n;

	while (ldapconn_sbio_again(sbiod,
	    n = LBER_SBIOD_READ_NEXT(sbiod, buf, len)))
		if (ldapconn_sbio_wait(sbiod, POLLIN) < 0)
			return -1;
	return n;
}

static ber_slen_t
ldapconn_sbio_write(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len)
{
	struct ldapconn_io *io = sbiod->sbiod_pvt;
	ber_slen_t n;

	while (ldapconn_sbio_again(sbiod,
	    n = LBER_SBIOD_WRITE_NEXT(sbiod, buf, len)))
		if (ldapconn_sbio_wait(sbiod, POLLOUT) < 0)
			return -1;
	if (n > 0)
		io->written += (unsigned long long)n;
	return n;
}

static int
ldapconn_sbio_setup(Sockbuf_IO_Desc *sbiod, void *arg)
{
	sbiod->sbiod_pvt = arg;
	return 0;
}

static int
ldapconn_sbio_remove(Sockbuf_IO_Desc *sbiod)
{
	return 0;
}

static int
ldapconn_sbio_ctrl(Sockbuf_IO_Desc *sbiod, int opt, void *arg)
{
	return LBER_SBIOD_CTRL_NEXT(sbiod, opt, arg);
}

Sockbuf_IO ldapconn_io_layer = {
	.sbi_setup = ldapconn_sbio_setup,
	.sbi_remove = ldapconn_sbio_remove,
	.sbi_ctrl = ldapconn_sbio_ctrl,
	.sbi_read = ldapconn_sbio_read,
	.sbi_write = ldapconn_sbio_write,
	.sbi_close = NULL, /* the provider below closes the descriptor */
};

