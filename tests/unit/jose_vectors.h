/* jose_vectors.h - JOSE test vectors for tests/unit/test_jose.c, made by code independent of
 * Warrant: tests/unit/gen_jose_vectors.py (python3-cryptography keys, python3-jwt JWKs and
 * signatures and its verification results, python3-jwcrypto RFC 7638 thumbprints, RFC 7638
 * §3.1's example). Generated: do not edit; run /usr/bin/python3 tests/unit/gen_jose_vectors.py. */
/* clang-format off */
#ifndef WARRANT_JOSE_VECTORS_H
#define WARRANT_JOSE_VECTORS_H

struct jwk_vector {
	const char *name, *json;
	int ok;            /* a correct parser accepts it */
	const char *why;   /* the reason when refused */
	const char *jkt, *kid;
};

struct jwks_vector {
	const char *name, *json;
	int ok, n;
	const char *kids[64];
};

struct jws_vector {
	const char *name, *jws;
	int ok;            /* parses */
	const char *why;
	const char *key;   /* name of the jwk_vector to verify with */
	int verify;        /* what python3-jwt says of the signature with that key */
};

static const struct jwk_vector jwk_vectors[] = {
	{"ec_p256",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWw"
		"xRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\",\"kid\":\"ec-1\"}",
		1, "", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "ec-1"},
	{"ec_p256_2",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"UjDFUqSAR8rPDTHMXxSEhwfwqU15pwneTGIFNFzZPGQ\",\"y\":\"WaNZ"
		"6c8Cj0ta8ufBDPhs-Y9gGiOAsw9K0Z0CBcg65vQ\"}",
		1, "", "4T9UeDpGs5ag0jV3xt0lHEC9htzATCI0TD8Pws9l3Kg", "4T9UeDpGs5ag0jV3xt0lHEC9htzATCI0TD8Pws9l3Kg"},
	{"rsa_2048",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"wcYHUQvERcld7pq2GG8R1HKbeDKZXkLIBlAVL9VSISB5pmMOL0"
		"R2_HvCvwbeKYUDCWPJ_P7VM6AR6PliRsT3UISvV05v7qmnw7Kt8pKBKRyRKSdUGaZnrJh6vnDv57XXEylGCEIHe-qc9hTc30z79v"
		"N7tdGqaXZwX42p3nOAR0qepHzUyClK8pOpby68B1cP7MKxEdn1fMS-lge0z1IVi7BkOT4XIVIYHMEUeok70e4Jkg1sZox9o0T6_B"
		"vEUrdBhcEoF3BvYbLf1GZ8doyA0Z88MGPecrrYm1_ZfdgojXrQiAdQuAdgsZoaHW_sAoigx0jFgXWDU06ufeKNEU8pJQ\",\"e\""
		":\"AQAB\",\"use\":\"sig\"}",
		1, "", "soeMnPR1cSBlqW8SijN5LMqaZvr7hMvWBBh96UwGKng", "soeMnPR1cSBlqW8SijN5LMqaZvr7hMvWBBh96UwGKng"},
	{"rsa_3072_rs256",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"76O-nh7MMKhExCjNDZUNWw0u3p2uTdRknrSYnU5fwB0etQbSWz"
		"ozNUx8bA8sGQFoHq0JeNr1H8tA9juO4MnRYK9RhQIXcQq0ouBLt8ApHg-t_-K-mGyWQRsb-H2vFoCxy3Or-5UrInWSkgoNtoTsI0"
		"mPJ9i5CULnfaYfznsQjNUtROCI4wAoXSFf0TEK3MfTZ0od5oI8a_M7JIEBcfe9yhEBgQHqDexG8I4kpjeLPu9AvRCnHAUmrL4o1G"
		"HT-dAAfKEW6Sp1NLZLHW9ClnxCdo1po54AHD5J51A8R2xcs9cY5HvoP62VAt6VsrGEWcp3LkiUOULowKKcBlkFtF1BgvTuEMH51o"
		"OmqwjjaLr-e0XyVJcAGRaoR5qBpmT8Y4yb1NIWfZlgyLZKt8K1epU6ZjN8yAUaY1NKA70vP_2LOwFnCx53zjgc1aR3AfkB5043Pg"
		"3EcIemcKU5QidtQfGrqAk7Yf8zjqXMY9NBfVxgW8-F3GoR5YtgVZp79e7UO6fX\",\"e\":\"AQAB\",\"alg\":\"RS256\",\""
		"kid\":\"rsa-3\"}",
		1, "", "gCJtjiY6kMhJuCjUVNdZINb-Q7kLhoKPbZ5VgMz29aA", "rsa-3"},
	{"rsa_4096_ps256",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"vkaXTW7359T6sjFWyyBZ_1JQuAqXklXhyEOw5zlGEp9ewDaCN1"
		"aB6cy1fY-FLnomyTlQRrHnsWYGXAJQ_w-u-bqYtZ-nILdkam9qroF58kTP3Kz0A2cKT3hjOaNIxygX58hdxAXTJeN0LYX1luZTad"
		"A3JNJxJ5qq9_9CKFyq5C1P3cr1FkJyYup9y5KCQ9_A4nQgCtkEaP7JxQnLx4WC1iT9ivNFQGXx-hZYIbbUo6GcWXjyD7j9RV5s9r"
		"96km02SfpLBTfQojfKw7Wm0PZkqON3BDbktde38jaAcihMFuEIpqO26On27w0dsqjDCfuNcHkiLWDWjApfSfcPgPNw0i7xxGsYGf"
		"DRFJ0GAUP_ygDSw8_C5Ndk1WBkp3k1p5Wo56SoK2gm_M2xyEDXzci7MYNnv1Xr4UyBk9auk42Fx_TnJiHID16BYxhEkBw06QraVj"
		"GEOozbbrkjA95DuN4sty7cibC-vVmMgS4Yg3LSem-iObUBAQvd2USU2YzG4VNMifMa7HclhMSUHNffTUh0sp5ky2gXK9usVYMYpW"
		"RBKTzPelRXu2jVRSQFomMw77iQwdSDM2H-drBDgWSbMlNk2v7siex-aEMXjXzam9pa2jHvHtXTSNKAaT7mMWHSSNrPddj8V8QXwD"
		"cX0hFwM_SMtC5vnvnk8TSNXondbVax4Xk\",\"e\":\"AQAB\",\"alg\":\"PS256\"}",
		1, "", "zC1WFGRC7S8UUdb7AXxPkq74t6YZm_MJIEpymUnR99A", "zC1WFGRC7S8UUdb7AXxPkq74t6YZm_MJIEpymUnR99A"},
	{"rsa_e3",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"4mAJ_R6jH_dO-J6ltezEabZluaA1fkpr84C2XgY1_eojVzAVyw"
		"QEHdhXlBKsxHNjxkrl-UHeHni_H3b_3p6RLfu4rr7AjtN2PQAhVif6sSnKtca4O6XGHuI2YcGKfvbGBKTl-8AeJbn8jlbDFzR7Mg"
		"Xs62AgowxRvjm-D_p5D_2UPa_iOAmTkMWFEun3hMMRrHuJrhdTGiGpLj33lH5EK72UbNDo8DdLqnWRTZfcPTlP_InRFQ_B1dv38T"
		"h9B-PWkzQElLyxKvdnSyek28fr25a48LqUb3RIFYYg-QcoB4y3kn7TSyLfqf5gHwSuFvWRrRIGZ4zcA-m_rLmBx8MeDw\",\"e\""
		":\"Aw\"}",
		1, "", "VoCkD1ReYviCPSNj2U9VoedC-MrlB8_Ftk0Ukn98Y4k", "VoCkD1ReYviCPSNj2U9VoedC-MrlB8_Ftk0Ukn98Y4k"},
	{"ed25519",
		"{\"x\":\"lbW-P9J1dXD2Bkqw2nJNULLen9ZNbNoMVKZdRgLu9-I\",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":"
		"\"ed\"}",
		1, "", "xukXUcMH7mQWpZBpKOVOS_md4cUv1TamGmNrPTQXUlQ", "ed"},
	{"ed25519_2",
		"{\"x\":\"6QesQrIDxolDNYON36f1ISHo5H-yvGHHQ0ZnWrtZjMQ\",\"kty\":\"OKP\",\"crv\":\"Ed25519\"}",
		1, "", "rxfVW6iNvjsqEUiJr9YkQw8_gdKrf1qJardk-3s23X8", "rxfVW6iNvjsqEUiJr9YkQw8_gdKrf1qJardk-3s23X8"},
	{"rfc7638",
		"{\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFx"
		"uhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
		"FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0"
		"fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw\",\"e\":\"AQAB\",\"alg\":\"RS256"
		"\",\"kid\":\"2011-04-29\"}",
		1, "", "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", "2011-04-29"},
	{"ec_p256_spaced",
		"{\012  \"y\": \"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\",\012  \"x\": \"wYvlcPmg_sRYQDNSzjkA8y8"
		"qT88XersSnh0RjzWP9bs\",\012  \"crv\": \"P-256\",\012  \"kty\": \"EC\"\012}",
		1, "", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0"},
	{"ec_private",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWw"
		"xRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\",\"d\":\"_LBPB7M9FbAM6WuLaCgBIvSputuCiqzzjYCRG6sEmTo\"}",
		0, "private_key", "", ""},
	{"rsa_private",
		"{\"kty\":\"RSA\",\"key_ops\":[\"sign\"],\"n\":\"wcYHUQvERcld7pq2GG8R1HKbeDKZXkLIBlAVL9VSISB5pmMOL0R2"
		"_HvCvwbeKYUDCWPJ_P7VM6AR6PliRsT3UISvV05v7qmnw7Kt8pKBKRyRKSdUGaZnrJh6vnDv57XXEylGCEIHe-qc9hTc30z79vN7"
		"tdGqaXZwX42p3nOAR0qepHzUyClK8pOpby68B1cP7MKxEdn1fMS-lge0z1IVi7BkOT4XIVIYHMEUeok70e4Jkg1sZox9o0T6_BvE"
		"UrdBhcEoF3BvYbLf1GZ8doyA0Z88MGPecrrYm1_ZfdgojXrQiAdQuAdgsZoaHW_sAoigx0jFgXWDU06ufeKNEU8pJQ\",\"e\":"
		"\"AQAB\",\"d\":\"H_cF3_W78_Mq3qCA53jzDQO259YY_LaxfnEZfaGIAdT0nGD8xwlZQ386-f4tCdZaUOM4P9bd3r1KFw-Eib4"
		"WOh8ZOaLDzjAIb7z6-uf2DI0c2RgWxIBx28Pvg5jnymZxy0RkvBoAWA20xNdeNCvj6LHzt2OV4_3YvbqFyh9titTXU1te9N5OfLb"
		"VyWDr5ROcKrhEqYMuFcuM8t0AIyg6UdGvUu2TYheHWVcrekgKEZMhFrk0uZXExvpUoYaasrbfd9ASOhFrmTK_ZrjmIs5v62b0UmI"
		"Nh_70E3hdHGKGsTwM9Mo33U6soimXv_V1YnnopqRwXZ_DOTcfAJS1Rg7FYQ\",\"p\":\"_KsJ6a9stPCUT4OUWDQE3r_grwJmT6"
		"m1x7K-dNH2BKMJoxX3XYa9P_yWVy7N2V1A2O5QG5Qe-c2ckVqqGKTRAF6yUl4lBiBlYJTuwc7YvhhkhpOE7iQraT57WI8TD46bWk"
		"yihLp2cKa_i11MyOl6AHfKybtV8gNNKUeCbKh_Ve0\",\"q\":\"xFQsLhScNSJWDdUveFsQbZkKd6iLRA1RoOXAAMj-1AcIPWrc"
		"rjK5j5MSWpCgmD3CRdYZWP8TZ9PhHF4X_aB1p1xxUTu01y9MTIPe86io08DDLnEUE-VpVTXn1CYSAdGmpmZqWJZhpqO5SjVw5Im3"
		"uBhvWWzZJe0WkPz7qFX2ORk\",\"dp\":\"H-sfcnTlv6nQoobVu5q-rsEAijs8X33p59NNugY4FPffpMmGmTsHN0kaWOMhv_7Gz"
		"WC1n_ZDP31Y9QfGCxzvBiPwVPVtqet3ww6tZrBRsxnzwQhrt4W8MixhepuAZeu29l5N_YRsp-h4tAtSQuMztVFsvbU7szn1imxtL"
		"nrOszU\",\"dq\":\"IT5DcNYKkTCsM5FqhU2eHYCxdgty8WXz8XOVrExcYdiC-6tRjKmIJBh6Hh2pI74pXBvhlOE0DvugfWYtV8"
		"PIyDrt8RxUBa-7kqUtpkJju99C7WU2ShwpVsVW6OQ9XlN6jWiAD1n_VPEaGceswvXSxvhUOmck6bgYfxpnHlzX4Vk\",\"qi\":"
		"\"Dn-9O6rms58lHgiloZqSTUU6NlMIb-fnyQy4oO7ST2rFnbn0mRyU7cn4XN0Y5v-ofasJQeRmwM4DXMnG_e9xvMWUWiJEWi14cO"
		"47kvtr0o_-53s4ivZPg67qdc2ISkHDxhKQ3IRJvyIGM3zRxQiOq3M9nLsreP7RQdv4ZKQWOoI\"}",
		0, "private_key", "", ""},
	{"okp_private",
		"{\"x\":\"lbW-P9J1dXD2Bkqw2nJNULLen9ZNbNoMVKZdRgLu9-I\",\"d\":\"HDAG3Qzn30KXgbi5g2-hnuKfWCH29t04wSwbt"
		"ATBB8s\",\"kty\":\"OKP\",\"crv\":\"Ed25519\"}",
		0, "private_key", "", ""},
	{"oct",
		"{\"kty\":\"oct\",\"k\":\"yU6FpRP6d8qmyA7MT3vWPALMzVKB1TBrsDjv0ikOmZU\"}",
		0, "private_key", "", ""},
	{"oct_no_k",
		"{\"kty\":\"oct\",\"alg\":\"HS256\"}",
		0, "private_key", "", ""},
	{"rsa_only_p",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"wcYHUQvERcld7pq2GG8R1HKbeDKZXkLIBlAVL9VSISB5pmMOL0"
		"R2_HvCvwbeKYUDCWPJ_P7VM6AR6PliRsT3UISvV05v7qmnw7Kt8pKBKRyRKSdUGaZnrJh6vnDv57XXEylGCEIHe-qc9hTc30z79v"
		"N7tdGqaXZwX42p3nOAR0qepHzUyClK8pOpby68B1cP7MKxEdn1fMS-lge0z1IVi7BkOT4XIVIYHMEUeok70e4Jkg1sZox9o0T6_B"
		"vEUrdBhcEoF3BvYbLf1GZ8doyA0Z88MGPecrrYm1_ZfdgojXrQiAdQuAdgsZoaHW_sAoigx0jFgXWDU06ufeKNEU8pJQ\",\"e\""
		":\"AQAB\",\"p\":\"AQAB\"}",
		0, "private_key", "", ""},
	{"ec_p384",
		"{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"VIFyXaLrki8g_kciz_6_5_ao7EpB9UKvIaavInZAJVNTqbVnH2zxRQT9Dt"
		"iK_5LA\",\"y\":\"Fw2mI7Yp8fqGam1LF72NZGjbOv8ofIDtVy0Lmzrstg-l6GOnLrmnD6-rehXCQT_3\"}",
		0, "unsupported_curve", "", ""},
	{"ec_secp256k1",
		"{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"OvWisVRRJe0SJED2z1dh6B1EHGosy3t4iCB2l586TMw\",\"y\":\""
		"aB0lPTvOE4dABSEiwQAb57zIfT7ZZe6XafBKa517rP8\"}",
		0, "unsupported_curve", "", ""},
	{"rsa_1024",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"zy2Y5-C-DpYRBPFys536RM48z3V9OHxZrsIPm35HuzUL5DSWQe"
		"u6KyB-FZIgDJfTox-AFov_i9UaMdFnFfDHKAyz4tQKJmWh4LhYYZ0P6uRgNUzr3jDaxz8YaeCLvyK6hu_S4xnwb8o_NKRwF7mcJR"
		"xGg5udrQsfVR4z5SdjdW8\",\"e\":\"AQAB\"}",
		0, "key_size", "", ""},
	{"rsa_8192",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"3ewChaZ4V8YOu3TZxO8hfwThpthi-Qh9Aai6hIjuOagTE3iXF4"
		"5lopr_grp9gFh6a8lYvW-Zn8aJ9ucmzXBI7CHWEZiVts4FHzGaa4DUVfgBvGKwT8-EsfbScdYt534qiCaDXw-RkYqWRKqSRqYWjI"
		"NN6cX2b8p3Nvhc4cqAfzUH2nCtjSR_MX0pwX6aVLnwLqlV6UtxwhPuXiH_8KNSdBN3eN9h4FDP2cIQPcWJocmimHMs2BkUQhpNsM"
		"K1HWTTXA8FQ4Lq81tP1xIlq7Eda2kluOCmmRgnLCybY3gN6DV041wCt0LNBEBDBMSqfyunBmlylXSpGh6d9s1cfdcOMfLU2u08Es"
		"HXJHGy6OMrMkJ8OnddM-iuh5l1hOKXojvCwj71iVX49P4k0ivgh7lXbi79bVSpn6O6UjQOLvACkdiE4U6tTjiOVIKIzvVDu5Rhil"
		"saeDzcXNkaN02R78toLjUY06IH0f2rbk5OvF393q_TIYIh84TK4pI-XtLLcetkFjgIXKICGliTNo1dYp4yVQMB77hYxU7Z4jXV_Q"
		"ODSX32wgW0yvgopvEbAY3Avlm6elOFAQVMtg-7EX1KvoG6oOoIxepX9g_l_3ig0aRbDsfQdelmSjewR5voDaIAw54aCSGue7Scxp"
		"b6TB-aJJvNHKQX7Mk7e2rV4S5DjhtfHMmUAQIyQ0_A96fJsL4URibAn1chafM0ihVND1mUY7RFhcDUvLiwiWSewffkBqYNicHmJV"
		"2eR06yH3FVSoEswkJbT5qv5MZH78NUtsYkCXdfvxBEFNU7F6Av30Y-Lg7yCSnTk9gBtbgwjCoMyiBxuA6Myzn1bAGQ5FhrZaANan"
		"3JUcKTEc2PuQMCUddEKqZIyiALKt_NoqTHqypBAlrCf3UjhHTZwrAomJyyb59GtKB6XQHz1--FtlvYkw4i8NURx3pM7LxAKJ2k4s"
		"Be8ouBjN7N1JDuMtxHJOitQl6pnriQztsLPD-FLQpn4f4fbMWe3-eQ3lK0laUpVRV2eL-YFuoRXflAny3epK8KqFMAVs-4C8pbLq"
		"3ftt3SRNMyWpQibnUARcEWuLGToOutnF0hCmEq8EguWR9uRoAiTXL7MRql63bSRaBrm08auul2lfddRMrfopO3vgAoyJevX4ZexQ"
		"kLOlwlGj6NLHsnDbAdaXcABcJbcv_vax37lbrqBQ21QHB5ezDSpWU6WCjGpvQj6_IA7YghhB0qrA0SuAtv0DmfECaMsOqukQkrKW"
		"DrNUozXgg3VOcoZZww2BVkhPSXdOXqEncDDbxCyYKvYhQkl_Eet4fybznpPiHacFnuwWAaFCcfjAg8JbxNk0W3J6Ml70SVQL2zTI"
		"ZtjbVNLgjo1BwShQ\",\"e\":\"AQAB\"}",
		0, "key_size", "", ""},
	{"okp_x25519",
		"{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"FhgUJlvfK-mwZxAXvG161tILM6eStQp5UiZNhCMhTW4\"}",
		0, "unsupported_curve", "", ""},
	{"okp_ed448",
		"{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":\"XQtFTeh2UYu9b4RiCBYsmUwkeHPp-Vvf_uSA18DCCNWwcVFH9NxrdZufq"
		"a_xLCpADkn2urHbl9yA\"}",
		0, "unsupported_curve", "", ""},
	{"ed25519_small_order_0",
		"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
		0, "weak_key", "", ""},
	{"ed25519_small_order_1",
		"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"7P_______________________________________38\"}",
		0, "weak_key", "", ""},
	{"ed25519_small_order_2",
		"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"JuiVj8KyJ7BFw_SJ8u-Y8NXfrAXTxjM5sTgCiG1T_AU\"}",
		0, "weak_key", "", ""},
	{"ed25519_small_order_3",
		"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"xxdqcD1N2E-6PAt2DRBnDyogU_osOczGTsf9d5KsA3o\"}",
		0, "weak_key", "", ""},
	{"ed25519_small_order_4",
		"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
		0, "weak_key", "", ""},
	{"ed25519_small_order_5",
		"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAIA\"}",
		0, "weak_key", "", ""},
	{"ed25519_small_order_6",
		"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"JuiVj8KyJ7BFw_SJ8u-Y8NXfrAXTxjM5sTgCiG1T_IU\"}",
		0, "weak_key", "", ""},
	{"ed25519_small_order_7",
		"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"xxdqcD1N2E-6PAt2DRBnDyogU_osOczGTsf9d5KsA_o\"}",
		0, "weak_key", "", ""},
	{"ed25519_noncanonical_y",
		"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"7v_______________________________________38\"}",
		0, "weak_key", "", ""},
	{"ed25519_short",
		"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"Esm-B6Z8dZW9BEg18AIAdTXIp6LsUmoEYWG7HOqVHg\"}",
		0, "bad_key", "", ""},
	{"ec_off_curve",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWw"
		"xRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8Q\"}",
		0, "bad_key", "", ""},
	{"ec_short_x",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"i-Vw-aD-xFhAM1LOOQDzLypPzxd6uxKeHRGPNY_1uw\",\"y\":\"3oWwx"
		"RfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"}",
		0, "bad_key", "", ""},
	{"ec_small_x",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAU\",\"y\":\"RZJD"
		"uapYGAb-kTvOmYF63hHKUDxk2aPFM0FcCDJI-8w\"}",
		1, "", "guMJItZlg4MfENFlqirJMHhU1fhV9FXPOI-WN59HrCo", "guMJItZlg4MfENFlqirJMHhU1fhV9FXPOI-WN59HrCo"},
	{"ec_x_plus_p",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"_____wAAAAEAAAAAAAAAAAAAAAEAAAAAAAAAAAAAAAQ\",\"y\":\"RZJD"
		"uapYGAb-kTvOmYF63hHKUDxk2aPFM0FcCDJI-8w\"}",
		0, "bad_key", "", ""},
	{"ec_padded_x",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs=\",\"y\":\"3oW"
		"wxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"}",
		0, "bad_key", "", ""},
	{"ec_alg_rs256",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWw"
		"xRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\",\"alg\":\"RS256\"}",
		0, "alg_mismatch", "", ""},
	{"ec_alg_es384",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWw"
		"xRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\",\"alg\":\"ES384\"}",
		0, "unsupported_alg", "", ""},
	{"ec_alg_hs256",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWw"
		"xRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\",\"alg\":\"HS256\"}",
		0, "unsupported_alg", "", ""},
	{"ec_alg_none",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWw"
		"xRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\",\"alg\":\"none\"}",
		0, "unsupported_alg", "", ""},
	{"ec_use_enc",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWw"
		"xRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\",\"use\":\"enc\"}",
		0, "not_signature_key", "", ""},
	{"ec_ops_sign_only",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWw"
		"xRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\",\"key_ops\":[\"sign\"]}",
		0, "not_signature_key", "", ""},
	{"ec_kid_number",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWw"
		"xRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\",\"kid\":7}",
		0, "bad_key", "", ""},
	{"ec_kid_long",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWw"
		"xRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\",\"kid\":\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
		"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\"}",
		0, "bad_kid", "", ""},
	{"ec_kid_empty",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWw"
		"xRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\",\"kid\":\"\"}",
		0, "bad_kid", "", ""},
	{"ec_kid_ctl",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWw"
		"xRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\",\"kid\":\"a\\nb\"}",
		0, "bad_kid", "", ""},
	{"ec_no_kty",
		"{\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3"
		"W3FCcbicBp_9CHdd79-cdi8U\"}",
		0, "bad_key", "", ""},
	{"ec_kty_lower",
		"{\"kty\":\"ec\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWw"
		"xRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"}",
		0, "unsupported_key", "", ""},
	{"rsa_even_e",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"wcYHUQvERcld7pq2GG8R1HKbeDKZXkLIBlAVL9VSISB5pmMOL0"
		"R2_HvCvwbeKYUDCWPJ_P7VM6AR6PliRsT3UISvV05v7qmnw7Kt8pKBKRyRKSdUGaZnrJh6vnDv57XXEylGCEIHe-qc9hTc30z79v"
		"N7tdGqaXZwX42p3nOAR0qepHzUyClK8pOpby68B1cP7MKxEdn1fMS-lge0z1IVi7BkOT4XIVIYHMEUeok70e4Jkg1sZox9o0T6_B"
		"vEUrdBhcEoF3BvYbLf1GZ8doyA0Z88MGPecrrYm1_ZfdgojXrQiAdQuAdgsZoaHW_sAoigx0jFgXWDU06ufeKNEU8pJQ\",\"e\""
		":\"AQAA\"}",
		0, "bad_key", "", ""},
	{"rsa_e1",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"wcYHUQvERcld7pq2GG8R1HKbeDKZXkLIBlAVL9VSISB5pmMOL0"
		"R2_HvCvwbeKYUDCWPJ_P7VM6AR6PliRsT3UISvV05v7qmnw7Kt8pKBKRyRKSdUGaZnrJh6vnDv57XXEylGCEIHe-qc9hTc30z79v"
		"N7tdGqaXZwX42p3nOAR0qepHzUyClK8pOpby68B1cP7MKxEdn1fMS-lge0z1IVi7BkOT4XIVIYHMEUeok70e4Jkg1sZox9o0T6_B"
		"vEUrdBhcEoF3BvYbLf1GZ8doyA0Z88MGPecrrYm1_ZfdgojXrQiAdQuAdgsZoaHW_sAoigx0jFgXWDU06ufeKNEU8pJQ\",\"e\""
		":\"AQ\"}",
		0, "bad_key", "", ""},
	{"rsa_e_huge",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"wcYHUQvERcld7pq2GG8R1HKbeDKZXkLIBlAVL9VSISB5pmMOL0"
		"R2_HvCvwbeKYUDCWPJ_P7VM6AR6PliRsT3UISvV05v7qmnw7Kt8pKBKRyRKSdUGaZnrJh6vnDv57XXEylGCEIHe-qc9hTc30z79v"
		"N7tdGqaXZwX42p3nOAR0qepHzUyClK8pOpby68B1cP7MKxEdn1fMS-lge0z1IVi7BkOT4XIVIYHMEUeok70e4Jkg1sZox9o0T6_B"
		"vEUrdBhcEoF3BvYbLf1GZ8doyA0Z88MGPecrrYm1_ZfdgojXrQiAdQuAdgsZoaHW_sAoigx0jFgXWDU06ufeKNEU8pJQ\",\"e\""
		":\"AQEBAQEBAQEB\"}",
		0, "bad_key", "", ""},
	{"rsa_even_n",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"wcYHUQvERcld7pq2GG8R1HKbeDKZXkLIBlAVL9VSISB5pmMOL0"
		"R2_HvCvwbeKYUDCWPJ_P7VM6AR6PliRsT3UISvV05v7qmnw7Kt8pKBKRyRKSdUGaZnrJh6vnDv57XXEylGCEIHe-qc9hTc30z79v"
		"N7tdGqaXZwX42p3nOAR0qepHzUyClK8pOpby68B1cP7MKxEdn1fMS-lge0z1IVi7BkOT4XIVIYHMEUeok70e4Jkg1sZox9o0T6_B"
		"vEUrdBhcEoF3BvYbLf1GZ8doyA0Z88MGPecrrYm1_ZfdgojXrQiAdQuAdgsZoaHW_sAoigx0jFgXWDU06ufeKNEU8pJA\",\"e\""
		":\"AQAB\"}",
		0, "bad_key", "", ""},
	{"dup_member",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWw"
		"xRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\"}",
		0, "malformed", "", ""},
	{"deep",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWw"
		"xRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\",\"z\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]"
		"]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
		0, "too_deep", "", ""},
	{"huge",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWw"
		"xRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\",\"z\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
		0, "too_large", "", ""},
	{"not_json",
		"{kty:EC}",
		0, "malformed", "", ""},
	{"array",
		"[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oW"
		"wxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"}]",
		0, "malformed", "", ""},
	{"empty",
		"",
		0, "malformed", "", ""},
	{"nul_in_string",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWw"
		"xRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\",\"z\":\"a\\u0000b\"}",
		0, "malformed", "", ""},
};

static const struct jwks_vector jwks_vectors[] = {
	{"mixed",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"VIFyXaLrki8g_kciz_6_5_ao7EpB9UKvIaavInZAJVNTqbV"
		"nH2zxRQT9DtiK_5LA\",\"y\":\"Fw2mI7Yp8fqGam1LF72NZGjbOv8ofIDtVy0Lmzrstg-l6GOnLrmnD6-rehXCQT_3\"},{\"k"
		"ty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"zy2Y5-C-DpYRBPFys536RM48z3V9OHxZrsIPm35HuzUL5DSWQeu6Ky"
		"B-FZIgDJfTox-AFov_i9UaMdFnFfDHKAyz4tQKJmWh4LhYYZ0P6uRgNUzr3jDaxz8YaeCLvyK6hu_S4xnwb8o_NKRwF7mcJRxGg5"
		"udrQsfVR4z5SdjdW8\",\"e\":\"AQAB\"},{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"3ewChaZ4V8YOu3"
		"TZxO8hfwThpthi-Qh9Aai6hIjuOagTE3iXF45lopr_grp9gFh6a8lYvW-Zn8aJ9ucmzXBI7CHWEZiVts4FHzGaa4DUVfgBvGKwT8"
		"-EsfbScdYt534qiCaDXw-RkYqWRKqSRqYWjINN6cX2b8p3Nvhc4cqAfzUH2nCtjSR_MX0pwX6aVLnwLqlV6UtxwhPuXiH_8KNSdB"
		"N3eN9h4FDP2cIQPcWJocmimHMs2BkUQhpNsMK1HWTTXA8FQ4Lq81tP1xIlq7Eda2kluOCmmRgnLCybY3gN6DV041wCt0LNBEBDBM"
		"SqfyunBmlylXSpGh6d9s1cfdcOMfLU2u08EsHXJHGy6OMrMkJ8OnddM-iuh5l1hOKXojvCwj71iVX49P4k0ivgh7lXbi79bVSpn6"
		"O6UjQOLvACkdiE4U6tTjiOVIKIzvVDu5RhilsaeDzcXNkaN02R78toLjUY06IH0f2rbk5OvF393q_TIYIh84TK4pI-XtLLcetkFj"
		"gIXKICGliTNo1dYp4yVQMB77hYxU7Z4jXV_QODSX32wgW0yvgopvEbAY3Avlm6elOFAQVMtg-7EX1KvoG6oOoIxepX9g_l_3ig0a"
		"RbDsfQdelmSjewR5voDaIAw54aCSGue7Scxpb6TB-aJJvNHKQX7Mk7e2rV4S5DjhtfHMmUAQIyQ0_A96fJsL4URibAn1chafM0ih"
		"VND1mUY7RFhcDUvLiwiWSewffkBqYNicHmJV2eR06yH3FVSoEswkJbT5qv5MZH78NUtsYkCXdfvxBEFNU7F6Av30Y-Lg7yCSnTk9"
		"gBtbgwjCoMyiBxuA6Myzn1bAGQ5FhrZaANan3JUcKTEc2PuQMCUddEKqZIyiALKt_NoqTHqypBAlrCf3UjhHTZwrAomJyyb59GtK"
		"B6XQHz1--FtlvYkw4i8NURx3pM7LxAKJ2k4sBe8ouBjN7N1JDuMtxHJOitQl6pnriQztsLPD-FLQpn4f4fbMWe3-eQ3lK0laUpVR"
		"V2eL-YFuoRXflAny3epK8KqFMAVs-4C8pbLq3ftt3SRNMyWpQibnUARcEWuLGToOutnF0hCmEq8EguWR9uRoAiTXL7MRql63bSRa"
		"Brm08auul2lfddRMrfopO3vgAoyJevX4ZexQkLOlwlGj6NLHsnDbAdaXcABcJbcv_vax37lbrqBQ21QHB5ezDSpWU6WCjGpvQj6_"
		"IA7YghhB0qrA0SuAtv0DmfECaMsOqukQkrKWDrNUozXgg3VOcoZZww2BVkhPSXdOXqEncDDbxCyYKvYhQkl_Eet4fybznpPiHacF"
		"nuwWAaFCcfjAg8JbxNk0W3J6Ml70SVQL2zTIZtjbVNLgjo1BwShQ\",\"e\":\"AQAB\"},{\"kty\":\"EC\",\"crv\":\"P-2"
		"56\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CH"
		"dd79-cdi8U\",\"kid\":\"ec-1\"},{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"wcYHUQvERcld7pq2GG8"
		"R1HKbeDKZXkLIBlAVL9VSISB5pmMOL0R2_HvCvwbeKYUDCWPJ_P7VM6AR6PliRsT3UISvV05v7qmnw7Kt8pKBKRyRKSdUGaZnrJh"
		"6vnDv57XXEylGCEIHe-qc9hTc30z79vN7tdGqaXZwX42p3nOAR0qepHzUyClK8pOpby68B1cP7MKxEdn1fMS-lge0z1IVi7BkOT4"
		"XIVIYHMEUeok70e4Jkg1sZox9o0T6_BvEUrdBhcEoF3BvYbLf1GZ8doyA0Z88MGPecrrYm1_ZfdgojXrQiAdQuAdgsZoaHW_sAoi"
		"gx0jFgXWDU06ufeKNEU8pJQ\",\"e\":\"AQAB\",\"use\":\"sig\"},{\"x\":\"lbW-P9J1dXD2Bkqw2nJNULLen9ZNbNoMV"
		"KZdRgLu9-I\",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"ed\"},{\"kty\":\"EC\",\"crv\":\"P-256\","
		"\"x\":\"UjDFUqSAR8rPDTHMXxSEhwfwqU15pwneTGIFNFzZPGQ\",\"y\":\"WaNZ6c8Cj0ta8ufBDPhs-Y9gGiOAsw9K0Z0CBc"
		"g65vQ\",\"use\":\"enc\"},{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"w0W91o44vNLPdI4vL6QDg8wBSFPWvdW"
		"nNSjUQF0TBpE\"},{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"},{\"kty\":\"kem\"},{\"kt"
		"y\":\"EC\",\"crv\":\"P-256\",\"x\":\"UjDFUqSAR8rPDTHMXxSEhwfwqU15pwneTGIFNFzZPGQ\",\"y\":\"WaNZ6c8Cj"
		"0ta8ufBDPhs-Y9gGiOAsw9K0Z0CBcg65vQ\",\"alg\":\"ES512\"}]}",
		1, 3, {"ec-1", "soeMnPR1cSBlqW8SijN5LMqaZvr7hMvWBBh96UwGKng", "ed"}},
	{"only_skipped",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"VIFyXaLrki8g_kciz_6_5_ao7EpB9UKvIaavInZAJVNTqbV"
		"nH2zxRQT9DtiK_5LA\",\"y\":\"Fw2mI7Yp8fqGam1LF72NZGjbOv8ofIDtVy0Lmzrstg-l6GOnLrmnD6-rehXCQT_3\"},{\"k"
		"ty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"zy2Y5-C-DpYRBPFys536RM48z3V9OHxZrsIPm35HuzUL5DSWQeu6Ky"
		"B-FZIgDJfTox-AFov_i9UaMdFnFfDHKAyz4tQKJmWh4LhYYZ0P6uRgNUzr3jDaxz8YaeCLvyK6hu_S4xnwb8o_NKRwF7mcJRxGg5"
		"udrQsfVR4z5SdjdW8\",\"e\":\"AQAB\"},{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"3ewChaZ4V8YOu3"
		"TZxO8hfwThpthi-Qh9Aai6hIjuOagTE3iXF45lopr_grp9gFh6a8lYvW-Zn8aJ9ucmzXBI7CHWEZiVts4FHzGaa4DUVfgBvGKwT8"
		"-EsfbScdYt534qiCaDXw-RkYqWRKqSRqYWjINN6cX2b8p3Nvhc4cqAfzUH2nCtjSR_MX0pwX6aVLnwLqlV6UtxwhPuXiH_8KNSdB"
		"N3eN9h4FDP2cIQPcWJocmimHMs2BkUQhpNsMK1HWTTXA8FQ4Lq81tP1xIlq7Eda2kluOCmmRgnLCybY3gN6DV041wCt0LNBEBDBM"
		"SqfyunBmlylXSpGh6d9s1cfdcOMfLU2u08EsHXJHGy6OMrMkJ8OnddM-iuh5l1hOKXojvCwj71iVX49P4k0ivgh7lXbi79bVSpn6"
		"O6UjQOLvACkdiE4U6tTjiOVIKIzvVDu5RhilsaeDzcXNkaN02R78toLjUY06IH0f2rbk5OvF393q_TIYIh84TK4pI-XtLLcetkFj"
		"gIXKICGliTNo1dYp4yVQMB77hYxU7Z4jXV_QODSX32wgW0yvgopvEbAY3Avlm6elOFAQVMtg-7EX1KvoG6oOoIxepX9g_l_3ig0a"
		"RbDsfQdelmSjewR5voDaIAw54aCSGue7Scxpb6TB-aJJvNHKQX7Mk7e2rV4S5DjhtfHMmUAQIyQ0_A96fJsL4URibAn1chafM0ih"
		"VND1mUY7RFhcDUvLiwiWSewffkBqYNicHmJV2eR06yH3FVSoEswkJbT5qv5MZH78NUtsYkCXdfvxBEFNU7F6Av30Y-Lg7yCSnTk9"
		"gBtbgwjCoMyiBxuA6Myzn1bAGQ5FhrZaANan3JUcKTEc2PuQMCUddEKqZIyiALKt_NoqTHqypBAlrCf3UjhHTZwrAomJyyb59GtK"
		"B6XQHz1--FtlvYkw4i8NURx3pM7LxAKJ2k4sBe8ouBjN7N1JDuMtxHJOitQl6pnriQztsLPD-FLQpn4f4fbMWe3-eQ3lK0laUpVR"
		"V2eL-YFuoRXflAny3epK8KqFMAVs-4C8pbLq3ftt3SRNMyWpQibnUARcEWuLGToOutnF0hCmEq8EguWR9uRoAiTXL7MRql63bSRa"
		"Brm08auul2lfddRMrfopO3vgAoyJevX4ZexQkLOlwlGj6NLHsnDbAdaXcABcJbcv_vax37lbrqBQ21QHB5ezDSpWU6WCjGpvQj6_"
		"IA7YghhB0qrA0SuAtv0DmfECaMsOqukQkrKWDrNUozXgg3VOcoZZww2BVkhPSXdOXqEncDDbxCyYKvYhQkl_Eet4fybznpPiHacF"
		"nuwWAaFCcfjAg8JbxNk0W3J6Ml70SVQL2zTIZtjbVNLgjo1BwShQ\",\"e\":\"AQAB\"},{\"kty\":\"EC\",\"crv\":\"P-2"
		"56\",\"x\":\"UjDFUqSAR8rPDTHMXxSEhwfwqU15pwneTGIFNFzZPGQ\",\"y\":\"WaNZ6c8Cj0ta8ufBDPhs-Y9gGiOAsw9K0"
		"Z0CBcg65vQ\",\"use\":\"enc\"},{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"w0W91o44vNLPdI4vL6QDg8wBSF"
		"PWvdWnNSjUQF0TBpE\"},{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"},{\"kty\":\"kem\"},"
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"UjDFUqSAR8rPDTHMXxSEhwfwqU15pwneTGIFNFzZPGQ\",\"y\":\"WaNZ"
		"6c8Cj0ta8ufBDPhs-Y9gGiOAsw9K0Z0CBcg65vQ\",\"alg\":\"ES512\"}]}",
		1, 0, {0}},
	{"empty_keys",
		"{\"keys\":[]}",
		1, 0, {0}},
	{"with_private",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\","
		"\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\",\"kid\":\"ec-1\"},{\"kty\":\"RSA\",\"key_ops\""
		":[\"verify\"],\"n\":\"wcYHUQvERcld7pq2GG8R1HKbeDKZXkLIBlAVL9VSISB5pmMOL0R2_HvCvwbeKYUDCWPJ_P7VM6AR6P"
		"liRsT3UISvV05v7qmnw7Kt8pKBKRyRKSdUGaZnrJh6vnDv57XXEylGCEIHe-qc9hTc30z79vN7tdGqaXZwX42p3nOAR0qepHzUyC"
		"lK8pOpby68B1cP7MKxEdn1fMS-lge0z1IVi7BkOT4XIVIYHMEUeok70e4Jkg1sZox9o0T6_BvEUrdBhcEoF3BvYbLf1GZ8doyA0Z"
		"88MGPecrrYm1_ZfdgojXrQiAdQuAdgsZoaHW_sAoigx0jFgXWDU06ufeKNEU8pJQ\",\"e\":\"AQAB\",\"use\":\"sig\"},{"
		"\"x\":\"lbW-P9J1dXD2Bkqw2nJNULLen9ZNbNoMVKZdRgLu9-I\",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\""
		"ed\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"UjDFUqSAR8rPDTHMXxSEhwfwqU15pwneTGIFNFzZPGQ\",\"y\":"
		"\"WaNZ6c8Cj0ta8ufBDPhs-Y9gGiOAsw9K0Z0CBcg65vQ\",\"d\":\"ZP6btA3GTuKFCuwGZg5PFXvAG1Be4KNvjRHln0eEODc"
		"\"}]}",
		0, 0, {0}},
	{"with_oct",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\","
		"\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\",\"kid\":\"ec-1\"},{\"kty\":\"RSA\",\"key_ops\""
		":[\"verify\"],\"n\":\"wcYHUQvERcld7pq2GG8R1HKbeDKZXkLIBlAVL9VSISB5pmMOL0R2_HvCvwbeKYUDCWPJ_P7VM6AR6P"
		"liRsT3UISvV05v7qmnw7Kt8pKBKRyRKSdUGaZnrJh6vnDv57XXEylGCEIHe-qc9hTc30z79vN7tdGqaXZwX42p3nOAR0qepHzUyC"
		"lK8pOpby68B1cP7MKxEdn1fMS-lge0z1IVi7BkOT4XIVIYHMEUeok70e4Jkg1sZox9o0T6_BvEUrdBhcEoF3BvYbLf1GZ8doyA0Z"
		"88MGPecrrYm1_ZfdgojXrQiAdQuAdgsZoaHW_sAoigx0jFgXWDU06ufeKNEU8pJQ\",\"e\":\"AQAB\",\"use\":\"sig\"},{"
		"\"x\":\"lbW-P9J1dXD2Bkqw2nJNULLen9ZNbNoMVKZdRgLu9-I\",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\""
		"ed\"},{\"kty\":\"oct\",\"k\":\"AAAA\"}]}",
		0, 0, {0}},
	{"bad_point",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\","
		"\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\",\"kid\":\"ec-1\"},{\"kty\":\"RSA\",\"key_ops\""
		":[\"verify\"],\"n\":\"wcYHUQvERcld7pq2GG8R1HKbeDKZXkLIBlAVL9VSISB5pmMOL0R2_HvCvwbeKYUDCWPJ_P7VM6AR6P"
		"liRsT3UISvV05v7qmnw7Kt8pKBKRyRKSdUGaZnrJh6vnDv57XXEylGCEIHe-qc9hTc30z79vN7tdGqaXZwX42p3nOAR0qepHzUyC"
		"lK8pOpby68B1cP7MKxEdn1fMS-lge0z1IVi7BkOT4XIVIYHMEUeok70e4Jkg1sZox9o0T6_BvEUrdBhcEoF3BvYbLf1GZ8doyA0Z"
		"88MGPecrrYm1_ZfdgojXrQiAdQuAdgsZoaHW_sAoigx0jFgXWDU06ufeKNEU8pJQ\",\"e\":\"AQAB\",\"use\":\"sig\"},{"
		"\"x\":\"lbW-P9J1dXD2Bkqw2nJNULLen9ZNbNoMVKZdRgLu9-I\",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\""
		"ed\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":"
		"\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8Q\"}]}",
		0, 0, {0}},
	{"not_array",
		"{\"keys\":{}}",
		0, 0, {0}},
	{"no_keys",
		"{\"k\":[]}",
		0, 0, {0}},
	{"member_not_object",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\","
		"\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\",\"kid\":\"ec-1\"},{\"kty\":\"RSA\",\"key_ops\""
		":[\"verify\"],\"n\":\"wcYHUQvERcld7pq2GG8R1HKbeDKZXkLIBlAVL9VSISB5pmMOL0R2_HvCvwbeKYUDCWPJ_P7VM6AR6P"
		"liRsT3UISvV05v7qmnw7Kt8pKBKRyRKSdUGaZnrJh6vnDv57XXEylGCEIHe-qc9hTc30z79vN7tdGqaXZwX42p3nOAR0qepHzUyC"
		"lK8pOpby68B1cP7MKxEdn1fMS-lge0z1IVi7BkOT4XIVIYHMEUeok70e4Jkg1sZox9o0T6_BvEUrdBhcEoF3BvYbLf1GZ8doyA0Z"
		"88MGPecrrYm1_ZfdgojXrQiAdQuAdgsZoaHW_sAoigx0jFgXWDU06ufeKNEU8pJQ\",\"e\":\"AQAB\",\"use\":\"sig\"},{"
		"\"x\":\"lbW-P9J1dXD2Bkqw2nJNULLen9ZNbNoMVKZdRgLu9-I\",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\""
		"ed\"},\"x\"]}",
		0, 0, {0}},
	{"too_many",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\","
		"\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYv"
		"lcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{"
		"\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwx"
		"RfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNS"
		"zjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\""
		",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3"
		"W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88Xer"
		"sSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-2"
		"56\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CH"
		"dd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs"
		"\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\""
		"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"}"
		",{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oW"
		"wxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQD"
		"NSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC"
		"\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5"
		"m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88X"
		"ersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P"
		"-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9"
		"CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9b"
		"s\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
		"\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U"
		"\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\""
		"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sR"
		"YQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":"
		"\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XD"
		"G-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8q"
		"T88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\""
		":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbic"
		"Bp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0Rjz"
		"WP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x"
		"\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi"
		"8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":"
		"\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_"
		"sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\""
		":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6X"
		"DG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8"
		"qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv"
		"\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcb"
		"icBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0R"
		"jzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\","
		"\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-"
		"cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y"
		"\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcP"
		"mg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kt"
		"y\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMh"
		"h6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA"
		"8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"c"
		"rv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FC"
		"cbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh"
		"0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\""
		",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79"
		"-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\""
		"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlc"
		"Pmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"k"
		"ty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfM"
		"hh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjk"
		"A8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\""
		"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3F"
		"CcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSn"
		"h0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256"
		"\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd"
		"79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\","
		"\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYv"
		"lcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{"
		"\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwx"
		"RfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNS"
		"zjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\""
		",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3"
		"W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88Xer"
		"sSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-2"
		"56\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CH"
		"dd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs"
		"\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\""
		"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"}"
		",{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oW"
		"wxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQD"
		"NSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC"
		"\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5"
		"m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88X"
		"ersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P"
		"-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9"
		"CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9b"
		"s\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
		"\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U"
		"\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\""
		"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sR"
		"YQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":"
		"\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XD"
		"G-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8q"
		"T88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\""
		":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbic"
		"Bp_9CHdd79-cdi8U\"}]}",
		0, 0, {0}},
	{"sixty_four",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\","
		"\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYv"
		"lcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{"
		"\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwx"
		"RfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNS"
		"zjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\""
		",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3"
		"W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88Xer"
		"sSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-2"
		"56\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CH"
		"dd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs"
		"\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\""
		"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"}"
		",{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oW"
		"wxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQD"
		"NSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC"
		"\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5"
		"m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88X"
		"ersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P"
		"-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9"
		"CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9b"
		"s\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
		"\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U"
		"\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\""
		"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sR"
		"YQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":"
		"\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XD"
		"G-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8q"
		"T88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\""
		":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbic"
		"Bp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0Rjz"
		"WP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x"
		"\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi"
		"8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":"
		"\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_"
		"sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\""
		":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6X"
		"DG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8"
		"qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv"
		"\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcb"
		"icBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0R"
		"jzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\","
		"\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-"
		"cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y"
		"\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcP"
		"mg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kt"
		"y\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMh"
		"h6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA"
		"8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"c"
		"rv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FC"
		"cbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh"
		"0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\""
		",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79"
		"-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\""
		"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlc"
		"Pmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"k"
		"ty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfM"
		"hh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjk"
		"A8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\""
		"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3F"
		"CcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSn"
		"h0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256"
		"\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd"
		"79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\","
		"\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYv"
		"lcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{"
		"\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwx"
		"RfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNS"
		"zjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\""
		",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3"
		"W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88Xer"
		"sSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-2"
		"56\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CH"
		"dd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs"
		"\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\""
		"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"}"
		",{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oW"
		"wxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQD"
		"NSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC"
		"\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5"
		"m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88X"
		"ersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P"
		"-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9"
		"CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9b"
		"s\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
		"\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U"
		"\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\""
		"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sR"
		"YQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":"
		"\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8qT88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XD"
		"G-c5m3W3FCcbicBp_9CHdd79-cdi8U\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"wYvlcPmg_sRYQDNSzjkA8y8q"
		"T88XersSnh0RjzWP9bs\",\"y\":\"3oWwxRfMhh6XDG-c5m3W3FCcbicBp_9CHdd79-cdi8U\"}]}",
		1, 64, {"1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0", "1CVA1a7jLW4mLz3Oh0AbCVP9o8A4xkAEZl6h9tv1S-0"}},
	{"deep",
		"{\"keys\":[],\"x\":[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]}",
		0, 0, {0}},
	{"dup",
		"{\"keys\":[],\"keys\":[]}",
		0, 0, {0}},
};

static const struct jws_vector jws_vectors[] = {
	{"ec_p256_es256",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoi"
		"aHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.qCV_HjSLoHTDMZlMaag8Fga4IFeeIQAK_4D"
		"GtduPMXhA9TdId7AHTajOjjXtVx-kWX-W8xmq7iVE8E63vbRiGA",
		1, "", "ec_p256", 1},
	{"rsa_2048_rs256",
		"eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoi"
		"aHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.wQX6VrbrlqeN-mskwLWZIXX2rWZjW6-AJzt"
		"E-n7dxliiqsY2_1DgfNjYclCEaJ5yRw2kl8PeNaTnJrjLZ0LCNqh0sQ9fDYOisEbtIDamtOtib0g09shkhvYDcNzNmgXZOFQkTvW"
		"5mrl9C_NjOeiYPk_L3JKu9kNIBs-SkKv4Xs_hcBk_Zt5269eKVB2EABnyV1_8tIfGvBxnx5_DV_S3au69BIGBhq4Pn13tXM8J2ra"
		"y1ymnkuh4ApO6pTqqALjZuDYoQUa5XE7Klzal0lYSCfxGWSuL6GxACQcHaqpZHSYGHmT9JR4s4JqzqYHOyzTYCoYKyQ17ltHlnzP"
		"FUvxKzQ",
		1, "", "rsa_2048", 1},
	{"rsa_2048_ps256",
		"eyJhbGciOiJQUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoi"
		"aHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.iABC_W6o0goQ0Op5VUtkGzzTVmIH2h7e_SI"
		"5HxWG4ydVF1UwObFq4NDEbm9VIJEX__x2P3YDpzSciFOn6txuJR7yjsfcx7XjkPE5TkNMu1PswDw_gKUKBPpJhIHQT1SJvp-Sr3D"
		"JSjI6FwZV1gUGvMVqXeOeexh0EXjt0kGS_RV5T1HGyWMzD_--8S1LKnrpXShWbkpprkuO3Fl3Oa4ok6Jpgv9pf7POD-BTCiupz3i"
		"jZR1xTC3-Lt6lAwXf0ebhWv8HnuRdwBII_eZze30PEZ2r0sbH9t5MjFJOdl8JLyhgHnhTzTh1KQDfznILGXjOGmZdUmHhCb1oacn"
		"0gSzkqg",
		1, "", "rsa_2048", 1},
	{"rsa_3072_rs256_rs256",
		"eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoi"
		"aHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.wMlBE2o-eoEEnyrENeH7abHzf16DgYMPJXB"
		"jAbPuKUdWGzgL1sYgBXfspbKmz-tBKjTCslwXTMLikfiybRA4dqeOeJhZ3oRrcJCRrPFgezLu7-8uYFfHufsaS1wyFAty9cAQEQv"
		"mWkudSoZ9fnUXhGLTB9bT2vuENuaXp7I1bRzFOfHS6Civ2IRGBgVujjYHfb6PlRIa1Y5wGakLvj3evFMLEpO-EyBTsmhIqorfJja"
		"ZhM-gN2kNMykjBxtUY-oQDDXSEidkOvUNVEaSJ-HzlGOhGW1A6_3iyZyZVwsOowIKa6QO87OYf9srhw_YtBBM-rEuZmv0_JeHQv3"
		"gjQb2ch_zTCqbigkfgUedaKbH3-Kk3_ZR7qETHDB3ySjpRfsC7uFitosJfw7VcTGs3kln5H4_N0lItp4_j5ocsrvJlKZ7cpCb3t5"
		"3PqCZDCniD98tOMdH4QrH-JCKxBbznExAfggyQF2f1syhTxrlSJyLzk1cOkKMIyuHnAGCjmJQLiJL",
		1, "", "rsa_3072_rs256", 1},
	{"rsa_4096_ps256_ps256",
		"eyJhbGciOiJQUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoi"
		"aHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.uSFrLAaUG0IO13ouK63cQTee2bI0ZpvtnH6"
		"X6ST1BX1ESCsVoDeUN-FuF-xkL2Mr0duuxJ-KpKvWiTAHSna8gqkERczVY1Cgz2JUf0B5BDFK8213YPh0tN11mPZ673qxSLv6qqX"
		"q6WR7AEd7HOlBdhIsUf6ypjxSo0g0OfADm3dHH82Zh-skXdGny8SDw7vNGTz8NXA14TTiwWxqk9qETG7jar2eb6Va3h1uj7i48Mz"
		"qRQNjb0XHSO2I3tKoNdHfMIZLV5IKf7YMNoYVnvsKiupSpHQ9yLY8AWav8Ps1X0SxZgOx67RfCG3j8Cqr3MamAq_JftR0Jm-RZcL"
		"IFllUzSdhFePaeQZ9wgPuY3LAxlYA6FOu-1diJG7SdPlEuPgcNhI2LRlOEnz0OuOOgBYH_0fMSN4bG_u0cvvRXz3f4wViSNDNWtz"
		"KQx4aWM8gDIWAVdEp265mE6FYhbbh3zINUnBa7qRpTe1oIq3voBJPc8kdEs3b3jc1BkHq7qXui508eUmmSYGkrA4AvWlmpzW9DEQ"
		"TdVnZLgWWW6jAPENz4YtpzpjdN2vD9HfdQ3HecNgmAg3NELb0nRqVxZwgqD7wVmtFq9lm1zkx3OravtWhcBoKGlLC-axkGAeyd0U"
		"Q8kPmmf7UUfv89bPN-fn4HzoXHkrntsHZlb69wRAKWbiWhoA",
		1, "", "rsa_4096_ps256", 1},
	{"ed25519_eddsa",
		"eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoi"
		"aHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.ZSoELys_HKmIU7M-cdb3hieVA5haxRmsY7f"
		"hcI1ew9DT1w8YHCLJB-cgCfkDdmuGFVLuj1BIfFHCnJtHfGioDA",
		1, "", "ed25519", 1},
	{"rsa_e3_rs256",
		"eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoi"
		"aHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.kleicbo0Nr68dUskpj-R14mYVb3EWJ9ykwQ"
		"ywK4-YU91lCb2Z2_ww6UxLONFL6_MuqP9CGBiCt9xi_Xnjm2ZyzbRvnFbqSSc_dbHa2NX9l3D7yAnWi294_XMvIu4s7QaWZ8kDGv"
		"YVtFhnwc6CkSWgvRVklr6saGZ_UlPS8EFqUTwlYS8mOgrJKaojscruuf59IzkRAE6FR374mNQSiLVUrkVHKLVRuJHITXvCJdFI37"
		"HXQzWoGcR7fdljahSrbV32QXkN0a1uVOL1aYAF_WJVTBWQ9iYYdTBfMny0AEKDAx0ILyI-H0YYG_-LtCP3YU6TNuXR6NgQuGVND4"
		"k3n5Anw",
		1, "", "rsa_e3", 1},
	{"es256_other_key",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.kz2RRWxNSUCxWiGx9LCs9R9VKE_KZHcc"
		"E_w4CtMmC-PNYnDorjRH2ZYVb-5-_SCuoDFzDUTa6_Y4gBixyxMChw",
		1, "", "ec_p256_2", 0},
	{"eddsa_other_key",
		"eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.xjj2DEY97lcSACS0Ecn8_bFgsWvkC9QwXubpj9zAAjaBWGkXOT"
		"97FZsyzWcqjj5sc0wgHgOuCBKwt8tJEN2SBg",
		1, "", "ed25519_2", 0},
	{"rs256_on_3072",
		"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.RnZhKx3fydWxB7Pg21_ATffHfdwOdw80yBlgTGJr3WoBPWsr6I"
		"PWMjDckeUokzbZQ8pPpp9kZ61X9ERnCQzM05CQ-N8xMCfNfCvZYOw3iBaphDp0FpaVurUHlatwoL71-dg0AuOhXWeBTG581lD7ky"
		"TWrNuXobfgxGzrRPSyFdxsy3jyXKsSM3g7dXs_EKLU8J1mBQaFHVKDC_eohS3CrRZA_iGzSgWi7mgc_DWfGTu8Cn1j5c-DP8aVMY"
		"RZ-4wXjZ2_gfzwofFKVUMzb-3NHx389gxPH7LuqJnUVfYNtnvnfrFce4scDWE4WnMr91QeWLyJgSGNbUY4yD6hUrFj3w",
		1, "", "rsa_3072_rs256", 0},
	{"rs256_on_ps256_key",
		"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.Ye9CO2D46FfSN_UkfMMaDfdwxhKZN3XNvUjl5CG-uQP1_UghWv"
		"133PV8ZHFTOyujLpGAbktdKZqFVGTNzxO5vRI1K8d_zrb7HI5_K0gwsm842AL8-Iq4mWI6yiyucObT074XJaKKRv3FTAefiagWsa"
		"Ek7IWvPb2sa6aIgLTQmQmHD_vyVgElT2f-GhLbbn4R1C2kq8vF95_y4NBU98bRbfEKkEqgTzt0Ze8yLbMT_mA0hu_W2bmTt9OSxy"
		"rQwLMQuRBm7Ya2eNXbD3P8uFIXd3Cls4cVaAy51F2BVXefmdU5NSBRAuRASJvtW2d36qfzZzb-JtGV_vY-YFCt4dX5beGrpj4BW-"
		"kG1ygCsG6gbNh4Fvja58aSMq4hht_eSjtmbZp2kYd13iOfcW-hyGbkEakPM5gbHY1Yzilt5_ohyX3K6_lMzAQ96V94rvtSpIYsGu"
		"LJaBkwunw-9J_NIwZyx1x-T3DYCqiYozB0z6SIbyCscJ1WSCRohY3wGMUpYoLkTKMEda490sqftWrm51KoPxc50kiX9XrXm8qHZw"
		"9WBDUotR1fBERil4z7P97YCVYtStaSbI30xqlroABvEQ5QF1k1a-AX7gSlC0s58c7uhUgBnOHKwGB_DDBWPHH_LqnW468lOs2M6u"
		"1gLSdW-cfhaBCHIpYxNWdXQ4ennYwvQDg",
		1, "", "rsa_4096_ps256", 0},
	{"ps256_on_rs256_key",
		"eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.MPLWYRCZyVx1iBwLgiW5h3V8n0cdZok8KJc8WUAu7bxof94z-D"
		"03y7v6A1dT8B8O0J_4hsX4EP3g6sp27G_kc0SE8BKZvStXkqvvTBw7KOFGWaAGrtbdoVRZlNK-ro8AFD6IEmbW3TaZNuElbhWkEs"
		"SJBW7WyHzl9ozlOh11d6mIiJGTn7GG-hjEeToXhgJiVKcbOmX4ZE7C9uPuKxO71bYQbpTo0fpLYpywmwwvPyO8IB0ixua-wpGGsG"
		"gI9wKDDg0Ps0w_hGxsWtm1gn53yolPlX-Dya5G008yhYKhc0Pog5vzl8yJ9HrAEsnbX7S2_z9LA8MT5yOUF328TIZACRNYXrXAsv"
		"tC0Q3_Ogesjw7iK5sOHfnTHMB43WZ3n5qE0Akxbjk3vBonJxb22p3K8Hhs245nhvWT-rm5_9c0WnUMux3kNvdW30oFtFfp3pYdFM"
		"o2Utr5qrAAYfnBXOkuIioo8sCXdiXsQbqBObx4fRQ9LhAiwLA1LKVqyxiJaVjS",
		1, "", "rsa_3072_rs256", 0},
	{"es256_on_ed25519",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.kz2RRWxNSUCxWiGx9LCs9R9VKE_KZHcc"
		"E_w4CtMmC-PNYnDorjRH2ZYVb-5-_SCuoDFzDUTa6_Y4gBixyxMChw",
		1, "", "ed25519", 0},
	{"eddsa_on_ec",
		"eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.xjj2DEY97lcSACS0Ecn8_bFgsWvkC9QwXubpj9zAAjaBWGkXOT"
		"97FZsyzWcqjj5sc0wgHgOuCBKwt8tJEN2SBg",
		1, "", "ec_p256", 0},
	{"es256_flipped",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.kz2RRWxNSUCxWmGx9LCs9R9VKE_KZHcc"
		"E_w4CtMmC-PNYnDorjRH2ZYVb-5-_SCuoDFzDUTa6_Y4gBixyxMChw",
		1, "", "ec_p256", 0},
	{"es256_sig_short",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.kz2RRWxNSUCxWmGx9LCs9R9VKE_KZHcc"
		"E_w4CtMmC-PNYnDorjRH2ZYVb-5-_SCuoDFzDUTa6_Y4gBixyxMC",
		1, "", "ec_p256", 0},
	{"es256_sig_long",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.kz2RRWxNSUCxWmGx9LCs9R9VKE_KZHcc"
		"E_w4CtMmC-PNYnDorjRH2ZYVb-5-_SCuoDFzDUTa6_Y4gBixyxMChwA",
		1, "", "ec_p256", 0},
	{"es256_der_sig",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.MEUCIQDlvnFQK0kCDmRQHgIye3T5FxrX"
		"TrqhsMFccaT3mo5d-gIgXNIFRA1ytTR6PzkSxEkECpDihICK_3LagYesbrgJcYc",
		1, "", "ec_p256", 0},
	{"es256_raw_ok",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.lrpy8QpgN1ebZXV-AR9RRSFDWpgyhxN-"
		"EH08tNbAItl-y-IFjsS9uPp5IwZRFgCv-U5iuNMqAdZUkq5I40P25w",
		1, "", "ec_p256", 1},
	{"es256_high_s",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.lrpy8QpgN1ebZXV-AR9RRSFDWpgyhxN-"
		"EH08tNbAItmBNB35cTtCSAWG3Pmu6f9Pw5iX9NPtnK6fJxx6GR8uag",
		1, "", "ec_p256", 1},
	{"rs256_swapped_payload",
		"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF95IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.RnZhKx3fydWxB7Pg21_ATffHfdwOdw80yBlgTGJr3WoBPWsr6I"
		"PWMjDckeUokzbZQ8pPpp9kZ61X9ERnCQzM05CQ-N8xMCfNfCvZYOw3iBaphDp0FpaVurUHlatwoL71-dg0AuOhXWeBTG581lD7ky"
		"TWrNuXobfgxGzrRPSyFdxsy3jyXKsSM3g7dXs_EKLU8J1mBQaFHVKDC_eohS3CrRZA_iGzSgWi7mgc_DWfGTu8Cn1j5c-DP8aVMY"
		"RZ-4wXjZ2_gfzwofFKVUMzb-3NHx389gxPH7LuqJnUVfYNtnvnfrFce4scDWE4WnMr91QeWLyJgSGNbUY4yD6hUrFj3w",
		1, "", "rsa_2048", 0},
	{"rs256_sig_truncated",
		"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.RnZhKx3fydWxB7Pg21_ATffHfdwOdw80yBlgTGJr3WoBPWsr6I"
		"PWMjDckeUokzbZQ8pPpp9kZ61X9ERnCQzM05CQ-N8xMCfNfCvZYOw3iBaphDp0FpaVurUHlatwoL71-dg0AuOhXWeBTG581lD7ky"
		"TWrNuXobfgxGzrRPSyFdxsy3jyXKsSM3g7dXs_EKLU8J1mBQaFHVKDC_eohS3CrRZA_iGzSgWi7mgc_DWfGTu8Cn1j5c-DP8aVMY"
		"RZ-4wXjZ2_gfzwofFKVUMzb-3NHx389gxPH7LuqJnUVfYNtnvnfrFce4scDWE4WnMr91QeWLyJgSGNbUY4yD6hUg",
		1, "", "rsa_2048", 0},
	{"rs256_sig_cut",
		"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.RnZhKx3fydWxB7Pg21_ATffHfdwOdw80yBlgTGJr3WoBPWsr6I"
		"PWMjDckeUokzbZQ8pPpp9kZ61X9ERnCQzM05CQ-N8xMCfNfCvZYOw3iBaphDp0FpaVurUHlatwoL71-dg0AuOhXWeBTG581lD7ky"
		"TWrNuXobfgxGzrRPSyFdxsy3jyXKsSM3g7dXs_EKLU8J1mBQaFHVKDC_eohS3CrRZA_iGzSgWi7mgc_DWfGTu8Cn1j5c-DP8aVMY"
		"RZ-4wXjZ2_gfzwofFKVUMzb-3NHx389gxPH7LuqJnUVfYNtnvnfrFce4scDWE4WnMr91QeWLyJgSGNbUY4yD6hU",
		0, "malformed", "rsa_2048", 0},
	{"ps256_max_salt",
		"eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.h1CLAiyqDDYQg85LujfZMa2UT4mFx59gDMkVzvRyOGH71ChC2h"
		"lEN5Bpamnb37cqk1Jrk057QT69cYz8jpO0p3ODASx_m6EWuXy0JyDhDr3CQwyuaCMAcmTSH0cMm5tugAIsjHG7Fd8B4-xRehZEyS"
		"GXDUzHwbaiqzPYE-IPjfSchogkVzTW8ls7OT2RwGyfuoOR_ZHLOE2YI0PHZ6fdHykmv2K8GqRrgtu4mw_ubw-i72lgVRo_ZrHGg-"
		"UhlKhYAllu8KHBilOYBrBIqFCf0WvNuzY8um5QLz90q_MlKZwX31XEhsXVc-Fdw_oNsZy6eFKcaGNPMm2ec65rgyOzPg",
		1, "", "rsa_2048", 0},
	{"ps256_mgf1_sha1",
		"eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.AgNS-CbzmQZhGFgpKv_Q8xU4gXZxjhPtnWS0ljS7vzwsnFaqEX"
		"wVVzNATlKj0obbu5OgBiMZwoNl-GEcTR9ahaQ6593N6j1u9Iu6TQxKIlzZPKP4rATov3AtnflLFKZl_5JklYzex-CnQzeuhpYcCI"
		"CmL3AZ7_nnLaEePn9XIY5Xal8s2Kcw-miYhWm7vHyNVEqowZlpOPdIedKxVgC6kPh6u95ntbrw9bVENXfWEPPLSaqnDly8c2yQI3"
		"fao_OGaA9i4W9mZb_uCqA3hY5v2HagCTQ6jU7clAnrGXojQX1d_rbBA0I6AdEOKviww_qqVMP2L0xm-w6pdRW_IoAyuA",
		1, "", "rsa_2048", 0},
	{"es256_header_rsa_key",
		"eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXh"
		"wIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.ibsgjHbvBm00UGniZCNvqSqHjpvuRNjNhAqeLqk_B-2PW83PIZOBk-V40KQkNv4I8j"
		"dvd_pWgWU2Mzxl1XR8Dj0atSD11qlsWZ9SvTyKQ_u_UnUZEDk6ntK39NfjgST3rY6YQJkMSxOSBCVKGtmFm5w3g7ZMwVWe0HG_Lf"
		"bv-MZgyzu2fk9g4TdnjWP1FDTS70VcZ6W_yUTc6aNoB_l5Hu6EUGuL_Bbtm-N6m_jW9FB5Hy__AFHZjDVRvxezeyykfsRm9Z2tem"
		"s5eHe2o7fRglAfz1sfRHw1o7UdCnAjqJ4zO8kFSatjD8qUaHXUPSNheZmsqcrBflJrAMq1H1YA1g",
		1, "", "rsa_2048", 0},
	{"alg_none",
		"eyJhbGciOiJub25lIn0.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhw"
		"IjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.",
		0, "bad_alg", "ec_p256", 0},
	{"alg_none_sig",
		"eyJhbGciOiJub25lIn0.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhw"
		"IjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"
		"BAQEBAQEBAQEBAQEBAQ",
		0, "bad_alg", "ec_p256", 0},
	{"alg_None",
		"eyJhbGciOiJOb25lIn0.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhw"
		"IjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"
		"BAQEBAQEBAQEBAQEBAQ",
		0, "bad_alg", "ec_p256", 0},
	{"hs256_public_pem",
		"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.As3cgfC7YedL_qoDSWaByA_rMkBjNk-dnNzrOh_2rX4",
		0, "bad_alg", "rsa_2048", 0},
	{"hs256_public_jwk",
		"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.Aoubqkl7X-894pQRn-409aDKe30MPfT_6FMrbWlNzG8",
		0, "bad_alg", "rsa_2048", 0},
	{"es384",
		"eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.4PlLXDsVv0OpQ4nLQ31IRGWbirtZ7GKO33g4urz9C_O80vf4U2"
		"a0FHmc2bTX00wBCytZFmOZC56n_mx64_DQ1FFpEdgjiBr__P7D74ltjuPj91q9Sqyq7Fu0ciIuRXvr",
		0, "bad_alg", "ec_p256", 0},
	{"alg_missing",
		"eyJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwI"
		"joxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB"
		"AQEBAQEBAQEBAQEBAQ",
		0, "bad_alg", "ec_p256", 0},
	{"alg_number",
		"eyJhbGciOjI1Nn0.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjox"
		"NzkwMDAwMDYwLCJqdGkiOiJqMSJ9.AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"
		"BAQEBAQEBAQEBAQ",
		0, "bad_alg", "ec_p256", 0},
	{"crit",
		"eyJhbGciOiJFUzI1NiIsImNyaXQiOlsiZXhwIl0sImV4cCI6MSwidHlwIjoiSldUIn0.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFn"
		"dF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.C07eH6hstV44Anx3WQL"
		"TAGp60YgkzjjIB4DKzVQyNnqYLHATompHmJTIXUv41tD7c2fGqwxjSpdWr_XrM7S02Q",
		0, "crit", "ec_p256", 0},
	{"b64_false",
		"eyJhbGciOiJFUzI1NiIsImI2NCI6ZmFsc2UsImNyaXQiOlsiYjY0Il0sInR5cCI6IkpXVCJ9..ypOz4UbxRGmo-WgYO-dw2Grh7A"
		"KaUJuReKqf6eBSkLNNnSBTCSTiNsqT7QtYEt3CMxOiwvf4idR-2cpe8bWaHw",
		0, "crit", "ec_p256", 0},
	{"kid_number",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6MX0.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5leGFt"
		"cGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"
		"BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ",
		0, "bad_header", "ec_p256", 0},
	{"kid_long",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6Imtra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tr"
		"a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tr"
		"ayJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDY"
		"wLCJqdGkiOiJqMSJ9.AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ"
		"EBAQ",
		0, "bad_header", "ec_p256", 0},
	{"typ_object",
		"eyJhbGciOiJFUzI1NiIsInR5cCI6e319.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5leGF"
		"tcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ"
		"EBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ",
		0, "bad_header", "ec_p256", 0},
	{"extra_part",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.kz2RRWxNSUCxWiGx9LCs9R9VKE_KZHcc"
		"E_w4CtMmC-PNYnDorjRH2ZYVb-5-_SCuoDFzDUTa6_Y4gBixyxMChw.AAAA",
		0, "malformed", "ec_p256", 0},
	{"extra_dot",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.kz2RRWxNSUCxWiGx9LCs9R9VKE_KZHcc"
		"E_w4CtMmC-PNYnDorjRH2ZYVb-5-_SCuoDFzDUTa6_Y4gBixyxMChw.",
		0, "malformed", "ec_p256", 0},
	{"two_parts",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9",
		0, "malformed", "ec_p256", 0},
	{"empty_sig",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.",
		0, "malformed", "ec_p256", 0},
	{"empty_payload",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ..kz2RRWxNSUCxWiGx9LCs9R9VKE_KZHccE_w4CtMmC-PN"
		"YnDorjRH2ZYVb-5-_SCuoDFzDUTa6_Y4gBixyxMChw",
		0, "malformed", "ec_p256", 0},
	{"padded_header",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ=.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVk"
		"IjoiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.kz2RRWxNSUCxWiGx9LCs9R9VKE_KZHc"
		"cE_w4CtMmC-PNYnDorjRH2ZYVb-5-_SCuoDFzDUTa6_Y4gBixyxMChw",
		0, "malformed", "ec_p256", 0},
	{"padded_sig",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.kz2RRWxNSUCxWiGx9LCs9R9VKE_KZHcc"
		"E_w4CtMmC-PNYnDorjRH2ZYVb-5-_SCuoDFzDUTa6_Y4gBixyxMChw==",
		0, "malformed", "ec_p256", 0},
	{"std_b64_sig",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.kz2RRWxNSUCxWiGx9LCs9R9VKE/KZHcc"
		"E/w4CtMmC+PNYnDorjRH2ZYVb+5+/SCuoDFzDUTa6/Y4gBixyxMChw",
		0, "malformed", "ec_p256", 0},
	{"whitespace",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9 .kz2RRWxNSUCxWiGx9LCs9R9VKE_KZHc"
		"cE_w4CtMmC-PNYnDorjRH2ZYVb-5-_SCuoDFzDUTa6_Y4gBixyxMChw",
		0, "malformed", "ec_p256", 0},
	{"dup_header",
		"eyJhbGciOiJFUzI1NiIsImFsZyI6Im5vbmUifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hc"
		"y5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB"
		"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ",
		0, "malformed", "ec_p256", 0},
	{"dup_claims",
		"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIiwic3ViIjoiYiJ9.AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ"
		"EBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ",
		0, "malformed", "ec_p256", 0},
	{"header_array",
		"WyJFUzI1NiJd.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzk"
		"wMDAwMDYwLCJqdGkiOiJqMSJ9.AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ"
		"EBAQEBAQEBAQ",
		0, "malformed", "ec_p256", 0},
	{"claims_array",
		"eyJhbGciOiJFUzI1NiJ9.WzFd.AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ"
		"EBAQEBAQEBAQ",
		0, "malformed", "ec_p256", 0},
	{"claims_not_json",
		"eyJhbGciOiJFUzI1NiJ9.aGVsbG8.AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"
		"BAQEBAQEBAQEBAQ",
		0, "malformed", "ec_p256", 0},
	{"deep_claims",
		"eyJhbGciOiJFUzI1NiJ9.eyJhIjpbW1tbW1tbW1tbW1tbW1tbW1tbW11dXV1dXV1dXV1dXV1dXV1dXV1dfQ.AQEBAQEBAQEBAQEB"
		"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ",
		0, "too_deep", "ec_p256", 0},
	{"nested_15",
		"eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJhIjpbW1tbW1tbW1tbW1tbWzFdXV1dXV1dXV1dXV1dXX0.CCx6v5pDAx2hMHt"
		"tBR_8RQu2sGWdb5K610PgZkQf8QyNlUc3cFIr73XKs6JsCIRiXFq0eeWJGUDJn2Tnbh4Qxw",
		1, "", "ec_p256", 1},
	{"huge",
		"eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSIsInBhZCI6Inh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4In0.icwSfY9OJonsY47tfRI0b4UlytmyGrp2LVGX1Qm0itmlbCifEiuUpWlzaLa7-H2-0yWfHB4"
		"wEZvZRpcLYXQBZg",
		0, "too_large", "ec_p256", 0},
	{"large_ok",
		"eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSIsInBhZCI6Inh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh"
		"4eHh4eHh4eHh4eHh4eHh4eHh4In0.I9dFWcqMK6T8jmMgwh651Nne_GoTFwpyPY8ePQ_IHKr4-GaAoQPr1Yy4W5dGcT2EVdimrU-"
		"3gL2sdl73ellRvg",
		1, "", "ec_p256", 1},
	{"dpop_proof",
		"eyJhbGciOiJFUzI1NiIsImp3ayI6eyJjcnYiOiJQLTI1NiIsImt0eSI6IkVDIiwieCI6IndZdmxjUG1nX3NSWVFETlN6amtBOHk4"
		"cVQ4OFhlcnNTbmgwUmp6V1A5YnMiLCJ5IjoiM29Xd3hSZk1oaDZYREctYzVtM1czRkNjYmljQnBfOUNIZGQ3OS1jZGk4VSJ9LCJ0"
		"eXAiOiJkcG9wK2p3dCJ9.eyJodG0iOiJQT1NUIiwiaHR1IjoiaHR0cHM6Ly9hcy5leGFtcGxlL3Rva2VuIiwiaWF0IjoxNzkwMDA"
		"wMDAwLCJqdGkiOiJwMSJ9.FYXQMpCMvZ_uEGluGjWzNJ5Z0oOWIJ9eLEsSL17iGdxNN67hgQk3_SvixtyHb3A6tDE9wnaWn--lGp"
		"910tiPQg",
		1, "", "ec_p256", 1},
};

#endif
