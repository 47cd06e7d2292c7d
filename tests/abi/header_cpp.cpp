/* Each public header must compile on its own; this file includes one, chosen by -DHEADER. */
#include HEADER
int ns_abi_header_check(void);
int
ns_abi_header_check(void)
{
	return 0;
}
