/* test_login.c - the key of the per-address login throttle. */
#include "../../authz/login.h"
#include "test.h"

static const char *key(const char *addr)
{
	static char out[LOGIN_ADDR_KEY_MAX];
	CHECK(login_addr_key(addr, out) == 0);
	return out;
}

TEST(login_addr_key_ipv4_is_the_address)
{
	char a[LOGIN_ADDR_KEY_MAX];
	snprintf(a, sizeof a, "%s", key("203.0.113.7"));
	CHECK_STR(a, "addr:203.0.113.7");
	CHECK(strcmp(key("203.0.113.8"), a) != 0);
	/* an IPv4-mapped IPv6 address is its IPv4 address */
	CHECK_STR(key("::ffff:203.0.113.7"), "addr:203.0.113.7");
}

TEST(login_addr_key_ipv6_is_the_slash_64)
{
	char a[LOGIN_ADDR_KEY_MAX];
	snprintf(a, sizeof a, "%s", key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"));
	CHECK_STR(a, "addr:2001:db8:1:2::/64");
	/* any other interface id in the same /64 is the same key, whatever its spelling */
	CHECK_STR(key("2001:db8:1:2::1"), a);
	CHECK_STR(key("2001:0DB8:0001:0002:ffff:ffff:ffff:ffff"), a);
	/* the next /64 is another key */
	CHECK(strcmp(key("2001:db8:1:3::1"), a) != 0);
	CHECK_STR(key("::1"), "addr:::/64");
}

TEST(login_addr_key_other_text_as_given)
{
	CHECK_STR(key(""), "addr:");
	CHECK_STR(key(NULL), "addr:");
	CHECK_STR(key("unix"), "addr:unix");
}
