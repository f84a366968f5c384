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
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2"
		"ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\",\"kid\":\"ec-1\"}",
		1, "", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "ec-1"},
	{"ec_p256_2",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"9uh-81AqdQdZoiSfNWBsolqdH6nFBQn9JGH9NVAk2t8\",\"y\":\"KPon"
		"_mlRt9tAvUTepP44z6Yz0bjnKZpErWO5DuU5jdk\"}",
		1, "", "G07bDa-j4IFnN2aPezekz24EKUndstHlqJzJao2-m9o", "G07bDa-j4IFnN2aPezekz24EKUndstHlqJzJao2-m9o"},
	{"rsa_2048",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"0s1PGkbe9L-7RYjpZiaps2SXbVsAzg27dkThmKGNTxy1-sJ0Wk"
		"De1SJevPily8xKE3aIT9mXs-VTQ-zwIHwxKWRPfNXgQWiQ3DlNMltCdBGzfGz3CKGzChO_cTOaHqWs7_LytBH_iBIBYXKF4bX2Ur"
		"ZnmxhCuj8g8RgCy_V24BEgBxo33-kz_brXYccsqRGYPsuhE-NBn92sbEhOcuMIpMx93wEpv8humfrn_xcbtP0hV3ceVyUbUncgWU"
		"-PynvhTyByGUDs6AbHkICOpuGADqWifl-60MgAM0c33VqYvS3Q700VRZ791yDHudOoigfLmGWePoyTQalcX9uOSvmX1Q\",\"e\""
		":\"AQAB\",\"use\":\"sig\"}",
		1, "", "BYgB7XNZqsMHywdCV07ArQYBsYBLZ-2VzqiFcp9kJzo", "BYgB7XNZqsMHywdCV07ArQYBsYBLZ-2VzqiFcp9kJzo"},
	{"rsa_3072_rs256",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"wznCg30xVRuUtu1qn_mNHq0-VhgtBvbzAcllEOkZ3oZ1t3hip3"
		"m308CngTQ-saowDMEffKj-KHMz36aaEFIy2CfvMAvY3cCUaex9NXa9M3PBO1ggepR8pGkCVFDere_PKuQ9QuEnUBcfnJYIshlTSb"
		"-_gbkej4UfNfeeM9wETt_VGOT7ZKR7XZVtOGcovRtdVDj1bzwilTBB-CR19t-nJJHZDjsONU7lTYf6u4ju6YoKMW7-9Cb-_UGe1V"
		"rIryaOKczIceJHJOEFKzypaDAXnpJ4jiaHPcMw7WGEqgCd6jDcSMn9UOQadP2mqAwBUw8TbuFPdQldkHcxIzw0tvuEUrneudtYBJ"
		"fgDot5gt46oMy08iN1N-CrTg6rWfns2p6k_IX0w0BX5Tji_vFHf7MmXuEmdp35mp5bmMrt_Q7AnyYFSzuNmJFCGFrRYl0KckAYfE"
		"hGiWG96OH3n7_uzMJsWdiDEIcgwsCqvWFHzW_EcT6eabg5H2bvgbPM7Te4vqx1\",\"e\":\"AQAB\",\"alg\":\"RS256\",\""
		"kid\":\"rsa-3\"}",
		1, "", "JWKqLBs9lgR9aid7r0nERzt7WSdgfJeyU_7rG5jNlMQ", "rsa-3"},
	{"rsa_4096_ps256",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"n6nvOY6N6u1erncrl29HWe1xfhwjWyIDnutAEoXTG47nT9iiN3"
		"EYYzVK_MXaJD5S8i6uE4ZUvqM1hM4F1DQY5CUbLm51uHaHyoIxwzg4jC8LqveE4_rey1PglyFsMuaJwOEPnoC6tHwlsqu9-_U7d4"
		"O75LaSlP9o-N7QcbcXsMj8rWZ1EC3rKXLuUL0BxjE3Ultrr76O3APZXdePhuw2hhERlpYU0NuFc7F5p90haJsU3wV-vNgRHDhbdV"
		"9i2625TR-1gtk_CJV7pfyy-WbgomiI3eN8mb6sbJn0lE8mk9VtW5CVr5dBH9wJ-myK4vHu-OJj7fFRCl_DWpg7xrRHjzCDFwZQMH"
		"m9lbsRzMphBXGFIkBLxln6-Rk70XhWFEvao58_kxBtk6Kb6an4RvFv4y4rYafAuAqdm9eV4V-4WBWS_p6exiwpHlOT2i3nSyx37a"
		"tCYESNU6cbn5TwQQlvTQvNJmtemAbSYOlDiNaCOHENNKzN_AmDaGfbOyshXzTEwmjEpOtyfXL3P-lTD2v-ictrzj61bc3xYzyFi9"
		"pn6EVMyDPvU_hYFOSdO4Kyo5UfwGSMhXlU3IBXmE9NC-314xyutbpxVPWZHA3Mpgi51oge0e9evTQcqV0wZPYnzX8eRx01SOa0rZ"
		"hDMM1IM55wRyEbCILGXybq21C7zAy3yc0\",\"e\":\"AQAB\",\"alg\":\"PS256\"}",
		1, "", "Pm5S2f9b1Pvsld2qUb8CEX9JdZLDIL8BY3-4w9nJdtY", "Pm5S2f9b1Pvsld2qUb8CEX9JdZLDIL8BY3-4w9nJdtY"},
	{"rsa_e3",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"sw3FPTnUzU41hl49LVMKtqAu_7WyCftUqZWpis7nxfieo2tEgC"
		"uh3bMeP1lNseBF73Xm3dKwvqcPTUMpSv89Lof70W05QWVFOf0GOWbPAycuxliSpCUP35IdpOhowpwObHrX-p0RNableEqAygIHMA"
		"y0CJvmEqApky4BizjL5jY0wgqnfziwODDRDOu22rrsv-bAD8c9yIiLBgEMjy_Hzhk6kv4aHAhu2fp8u-Woyep0aF8onySNAhQV4p"
		"YTiPfCNodfiY5gzNEKtxV8J_s-_Ik9oqYruIx-6WqXhZMtbsAq3OM1kwVqsdZVxpKfC7xfCRW-SNaTGKhmzbWGbht1kQ\",\"e\""
		":\"Aw\"}",
		1, "", "fYY2uUJ3pWpy1gAt63MIpX9Lb6Wd23ZK6_ic5nXcb0k", "fYY2uUJ3pWpy1gAt63MIpX9Lb6Wd23ZK6_ic5nXcb0k"},
	{"ed25519",
		"{\"x\":\"AJG2waaP_dRayiQvw0glIZGzsTbOHXhiPwrLfQkaDiY\",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":"
		"\"ed\"}",
		1, "", "ur6RoE0LOM-cdAkOMwU0eHLL37omHuLgfa0cmbkXfvw", "ed"},
	{"ed25519_2",
		"{\"x\":\"2ySin1nlnzEpFS9IvbsUC_PgbhUxB5ImseFN8DeFHJQ\",\"kty\":\"OKP\",\"crv\":\"Ed25519\"}",
		1, "", "OCcUT0c5aeosUR4f_n0jrc23zkjI9abHMk7PoDq2AuU", "OCcUT0c5aeosUR4f_n0jrc23zkjI9abHMk7PoDq2AuU"},
	{"rfc7638",
		"{\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFx"
		"uhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
		"FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0"
		"fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw\",\"e\":\"AQAB\",\"alg\":\"RS256"
		"\",\"kid\":\"2011-04-29\"}",
		1, "", "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", "2011-04-29"},
	{"ec_p256_spaced",
		"{\012  \"y\": \"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\",\012  \"x\": \"EuXIiyqTN5kSXrkgntAYn_S"
		"owwgET5-z7QKwokLW-eQ\",\012  \"crv\": \"P-256\",\012  \"kty\": \"EC\"\012}",
		1, "", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q"},
	{"ec_private",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2"
		"ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\",\"d\":\"KxcotR1VsyjwuDkF9kbV9vxjQjC2Hd3gd098fMXSgXA\"}",
		0, "private_key", "", ""},
	{"rsa_private",
		"{\"kty\":\"RSA\",\"key_ops\":[\"sign\"],\"n\":\"0s1PGkbe9L-7RYjpZiaps2SXbVsAzg27dkThmKGNTxy1-sJ0WkDe"
		"1SJevPily8xKE3aIT9mXs-VTQ-zwIHwxKWRPfNXgQWiQ3DlNMltCdBGzfGz3CKGzChO_cTOaHqWs7_LytBH_iBIBYXKF4bX2UrZn"
		"mxhCuj8g8RgCy_V24BEgBxo33-kz_brXYccsqRGYPsuhE-NBn92sbEhOcuMIpMx93wEpv8humfrn_xcbtP0hV3ceVyUbUncgWU-P"
		"ynvhTyByGUDs6AbHkICOpuGADqWifl-60MgAM0c33VqYvS3Q700VRZ791yDHudOoigfLmGWePoyTQalcX9uOSvmX1Q\",\"e\":"
		"\"AQAB\",\"d\":\"X3xsVmS_3XFz7L1lq8XbnMz14q0UIkIKJjpxTefv0GQa8mletvsndLfK3iJrR3NUIpjQigrwMqawHtaWtsB"
		"KrIspjkx69mXdKEQ0eZjo8xaJjNT22UwVg30KfMZ5C2TUfyQ3V-XHL-WoBnIPvvvjhffl2lUU9LRfwZW0vpqDrF6Cy44rcwV9s6d"
		"x74sJI-DLd30OWnZjHokW64poZjq2qUdaJS-wDudFMDrHP-YhJ4gtvuk-f09aY--adFPRV9LH3wqepfZOZ3Ab9yHs77QHQQzAy3l"
		"Y3bhSxI6-6uBfnp-eSy1kPoSBqplEl3-vmYm_NQVPJPIE4vZUyi3Ebe1riQ\",\"p\":\"80g1d0hmD94n9ugu3aND9Al3tiueBp"
		"DCKIZr_jfYbPMRU_ndJ9Ue3b-JuiL0GIEFx_f5dI-6BsxuMw2elMEZq_M0n72gKQ5lroYgDhRi-c2qQZpqNTYCWq9oT_GzHgUwEI"
		"RYm43zrMIdzGUTQXsnG4cGmt9DegRdm8_HtTJeuqM\",\"q\":\"3dJtImhZsJvqg2r6bAqzuX0oZ4FQyjhPKHKnuiyzDcRo4d2-"
		"OJo1xHYQUswr1YA4xh_XGE-5XiQE56x2g_cVUrcevPL7J4YYw5HsbZYXMDLFLAI1nAiyA9mB2DqVXZRh4YIe5Cr6OJTfzfJ1G--h"
		"pJMZm-vf5GcgiGs3Kj8rwyc\",\"dp\":\"4UVS5NIwV68hmHrksqy0hquhoxj-ahvu_XGDXFI_4Jqux_DNfU3WGAV9NdOZ7XrDb"
		"KhM4EcaPaNcw39wAVRRPiyk5OnE_V9sfk-KLR9piuCLL9YZVI5fXbOgxq4Latfo6tJx7hBiu-y_hP1u-CpeSxob3pqwM7MJLvcWe"
		"M1cdDs\",\"dq\":\"K6KlTUtxuUgyjb-Rm4dPa4GvXQ0XM3B4QeCsFfeNEXw9lZDlRoUvZoJDG8aGKO2cPX0t9t5X_KjhPiGy_q"
		"qwSyEyrsCtn0zFulMOS1BnJ1gVaV7V5Ofg_NjgrgR4NXxm9NF_-ipqJo9Cp2S2nNQ63AED3KQ92tRelfdhVrIujak\",\"qi\":"
		"\"HkLcnOLRH16o6WohEJGrzpYfG346W1emX75IKwh2fUIuSKXS1j4L7IHEGH9Lw-15Mtrugd1h3Myx_gDXJ0RtdKmQtIWUkhgCv1"
		"dTFr9VAiwq8_RTSAcYNQjh77nJh_6eDMg9Z2Fpf5JoS97FhHts0oI6Qrw2y4HNyGVAB-yU8jM\"}",
		0, "private_key", "", ""},
	{"okp_private",
		"{\"x\":\"AJG2waaP_dRayiQvw0glIZGzsTbOHXhiPwrLfQkaDiY\",\"d\":\"fB2vrNgPh8ub5O06wv854MIST538x37HzSuCU"
		"jxZASU\",\"kty\":\"OKP\",\"crv\":\"Ed25519\"}",
		0, "private_key", "", ""},
	{"oct",
		"{\"kty\":\"oct\",\"k\":\"-o9VHQTMIardJPaGpc8bgtwYAa5ckMZih6J5XLdS3EM\"}",
		0, "private_key", "", ""},
	{"oct_no_k",
		"{\"kty\":\"oct\",\"alg\":\"HS256\"}",
		0, "private_key", "", ""},
	{"rsa_only_p",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"0s1PGkbe9L-7RYjpZiaps2SXbVsAzg27dkThmKGNTxy1-sJ0Wk"
		"De1SJevPily8xKE3aIT9mXs-VTQ-zwIHwxKWRPfNXgQWiQ3DlNMltCdBGzfGz3CKGzChO_cTOaHqWs7_LytBH_iBIBYXKF4bX2Ur"
		"ZnmxhCuj8g8RgCy_V24BEgBxo33-kz_brXYccsqRGYPsuhE-NBn92sbEhOcuMIpMx93wEpv8humfrn_xcbtP0hV3ceVyUbUncgWU"
		"-PynvhTyByGUDs6AbHkICOpuGADqWifl-60MgAM0c33VqYvS3Q700VRZ791yDHudOoigfLmGWePoyTQalcX9uOSvmX1Q\",\"e\""
		":\"AQAB\",\"p\":\"AQAB\"}",
		0, "private_key", "", ""},
	{"ec_p384",
		"{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"HTy_4E9tGWyBj9fozXxWYMwVdRWYL8JcJ81u5JR5nmkKsWWdYmEONyEWNe"
		"CAtbXA\",\"y\":\"5sCx3SfOYQR2k7H4K9-CdSNp16aq02LrgA1eu51DrmhRXOMbr70o2kfn6O18HYwv\"}",
		0, "unsupported_curve", "", ""},
	{"ec_secp256k1",
		"{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"dw4uF8wKheepfB8fthnduJmRUoz8ZgoUH_S0fuXOjJE\",\"y\":\""
		"Pnn0V9qSwsm7TYh6_YH_Vlmoob2wFlk49wjyIEQM61I\"}",
		0, "unsupported_curve", "", ""},
	{"rsa_1024",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"q1jm1iDXBb-n3dg7lCswJzM2OUYYC75Dk0F2DuDChS1RoTqCUm"
		"g6YZKmGRmSZThkac1XLTGdmeAoSKDGfY10xAwnJQukUvEYAAMEN0AdnOTkiFG4B-CWIOmHhGPsbiAKNQCACm7x0mxhiTZiiuO3L1"
		"hJzAZhdNgGaXaPosopMe8\",\"e\":\"AQAB\"}",
		0, "key_size", "", ""},
	{"rsa_8192",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"puieTcAhp5aOE17PKHe1ziieaT_f-u426j6uwHXgb8iShuKWbk"
		"gduzIBEKSH9_jKYWd-RmGza6LWrGitp65BOGxL4jrRpgkWeczd1gi8AjUNnvJvLAlc9KE-rBbcTsdi-PQVnXPQBoampXlwDq_LM1"
		"YlrEeLNyVJ3aRHRDEcYdaVPMhyvY7LNgPunsni2ONpqDeR5RshoIhVpiLpLojxLQA6fWb3xsd-tuy--lr-DNIWokgqoK_mEM3ujO"
		"2Fpbp5f6fa11bx_YZPfT9EKUiVXgWzRZGy3TDlLFzN_Hnw82TKJoxvAsVMvibgcneuow2U9fWvpY5ivkYGWK3AfQ0Xf0o3vJZax1"
		"2uvAaSSAD-ByRRbaeCVP8FJ3yE9IDcCN59NZ2DvPakNc5rDwQUhUdp4mEvOn_5zYdovF5ZsVcm29_j0mTF52s_tdKg1B2MgOzqQm"
		"Q4EdOAuk7Ndao_na8Bjc62WrAbg8dySdjvkJSezoVOOu_p4FNL4DJssrH1AF-wyythuBlY-Icx5Y2UyiYNISApe7ND4_0MCz0fht"
		"LoODNuUOjIgU92oc2wDDPZmGwNfEE_YE7sc3QC_JxRTWEg45DDW-d2q66K3l8uT7Ij5DLDAjXRpbvtXsEnLnn3uVqwCmkP4GvbNS"
		"xtghB1lAmr_r7KadW1krST9LKZ5UYkxFMg_8dHKCpFKHwH9k4IKf9FQYSkJ_AUdhiOPrDkeyuG45W1q1FZjmyCIE3_By9sisL6Zi"
		"23tFJ3BmU5FZ4uUSzALXZnKcgtnb_aPaZRkKD1pZvtrAJoPSh1AXXPlrNw9RplVytnpN5UlnD_XPE6rpOwlFxq3rUGFder4Iwr83"
		"FRNCP1zGXH-Im1u8WgiNRQBbo88ZShAJGKKQrjY__ITDhUlGQUtiW4CnLXTrcgkVcU3HNhuU9zPqTV2vj0EZkdS6vkisTUFLCTta"
		"DukiEik8XtJgCaosymgLamstiEyMy073SbtrO5Hgxrnt4lB-Ywm0vGYYzXjvrzhFK22oTX6mmxvWHVpeItGR_7FsNFJxRugn9GSK"
		"OhWGeOC40fmXxNqrSwLeA-mSSSqNUgjjqvvmrw1wDfB100WVj0AfvgaqKWunKB-6D4bdPY5dkoBelL0QzdKpz8-BYmGejgSHeTPA"
		"otDmNDnZXZQCGZdf8AO_xgRl7yPanDbsJKP3Q4VchrS50G3DMHv76436M2z9jWmtJJScUymjHZhUbl7dJdKZ6Tbs10mZVkQ-dehK"
		"TQwVpj1Dc5JnDT2GPIo7c0oD9Z4zce7OlnfyJdTP0UkOtldziugd6YsqiqN1yxXw_2fa3qcJNLC_-zKdWeIPqb1qGyirnS9pffip"
		"ZrnkhisWVX3J7DHw\",\"e\":\"AQAB\"}",
		0, "key_size", "", ""},
	{"okp_x25519",
		"{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"JEiSZl7-rjKS_x6dLDaePL57gK6q21NCkCPjCjulNjE\"}",
		0, "unsupported_curve", "", ""},
	{"okp_ed448",
		"{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":\"izIexLkBVeHlZSKfSXYoIiNU7I_VVoE6SyPKfyQ-iMLB7Zv64uT-U2YKO"
		"cjKns_vAm-YHSyEwKGA\"}",
		0, "unsupported_curve", "", ""},
	{"ec_off_curve",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2"
		"ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_U\"}",
		0, "bad_key", "", ""},
	{"ec_short_x",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"5ciLKpM3mRJeuSCe0Bif9KjDCARPn7PtArCiQtb55A\",\"y\":\"rdZ2E"
		"TZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"}",
		0, "bad_key", "", ""},
	{"ec_padded_x",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ=\",\"y\":\"rdZ"
		"2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"}",
		0, "bad_key", "", ""},
	{"ec_alg_rs256",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2"
		"ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\",\"alg\":\"RS256\"}",
		0, "alg_mismatch", "", ""},
	{"ec_alg_es384",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2"
		"ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\",\"alg\":\"ES384\"}",
		0, "unsupported_alg", "", ""},
	{"ec_alg_hs256",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2"
		"ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\",\"alg\":\"HS256\"}",
		0, "unsupported_alg", "", ""},
	{"ec_alg_none",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2"
		"ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\",\"alg\":\"none\"}",
		0, "unsupported_alg", "", ""},
	{"ec_use_enc",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2"
		"ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\",\"use\":\"enc\"}",
		0, "not_signature_key", "", ""},
	{"ec_ops_sign_only",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2"
		"ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\",\"key_ops\":[\"sign\"]}",
		0, "not_signature_key", "", ""},
	{"ec_kid_number",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2"
		"ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\",\"kid\":7}",
		0, "bad_key", "", ""},
	{"ec_kid_long",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2"
		"ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\",\"kid\":\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
		"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\"}",
		0, "bad_kid", "", ""},
	{"ec_kid_empty",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2"
		"ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\",\"kid\":\"\"}",
		0, "bad_kid", "", ""},
	{"ec_kid_ctl",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2"
		"ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\",\"kid\":\"a\\nb\"}",
		0, "bad_kid", "", ""},
	{"ec_no_kty",
		"{\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57"
		"uC7CBSYn3F24ZDgM1mOjx7_Q\"}",
		0, "bad_key", "", ""},
	{"ec_kty_lower",
		"{\"kty\":\"ec\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2"
		"ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"}",
		0, "unsupported_key", "", ""},
	{"rsa_even_e",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"0s1PGkbe9L-7RYjpZiaps2SXbVsAzg27dkThmKGNTxy1-sJ0Wk"
		"De1SJevPily8xKE3aIT9mXs-VTQ-zwIHwxKWRPfNXgQWiQ3DlNMltCdBGzfGz3CKGzChO_cTOaHqWs7_LytBH_iBIBYXKF4bX2Ur"
		"ZnmxhCuj8g8RgCy_V24BEgBxo33-kz_brXYccsqRGYPsuhE-NBn92sbEhOcuMIpMx93wEpv8humfrn_xcbtP0hV3ceVyUbUncgWU"
		"-PynvhTyByGUDs6AbHkICOpuGADqWifl-60MgAM0c33VqYvS3Q700VRZ791yDHudOoigfLmGWePoyTQalcX9uOSvmX1Q\",\"e\""
		":\"AQAA\"}",
		0, "bad_key", "", ""},
	{"rsa_e1",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"0s1PGkbe9L-7RYjpZiaps2SXbVsAzg27dkThmKGNTxy1-sJ0Wk"
		"De1SJevPily8xKE3aIT9mXs-VTQ-zwIHwxKWRPfNXgQWiQ3DlNMltCdBGzfGz3CKGzChO_cTOaHqWs7_LytBH_iBIBYXKF4bX2Ur"
		"ZnmxhCuj8g8RgCy_V24BEgBxo33-kz_brXYccsqRGYPsuhE-NBn92sbEhOcuMIpMx93wEpv8humfrn_xcbtP0hV3ceVyUbUncgWU"
		"-PynvhTyByGUDs6AbHkICOpuGADqWifl-60MgAM0c33VqYvS3Q700VRZ791yDHudOoigfLmGWePoyTQalcX9uOSvmX1Q\",\"e\""
		":\"AQ\"}",
		0, "bad_key", "", ""},
	{"rsa_e_huge",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"0s1PGkbe9L-7RYjpZiaps2SXbVsAzg27dkThmKGNTxy1-sJ0Wk"
		"De1SJevPily8xKE3aIT9mXs-VTQ-zwIHwxKWRPfNXgQWiQ3DlNMltCdBGzfGz3CKGzChO_cTOaHqWs7_LytBH_iBIBYXKF4bX2Ur"
		"ZnmxhCuj8g8RgCy_V24BEgBxo33-kz_brXYccsqRGYPsuhE-NBn92sbEhOcuMIpMx93wEpv8humfrn_xcbtP0hV3ceVyUbUncgWU"
		"-PynvhTyByGUDs6AbHkICOpuGADqWifl-60MgAM0c33VqYvS3Q700VRZ791yDHudOoigfLmGWePoyTQalcX9uOSvmX1Q\",\"e\""
		":\"AQEBAQEBAQEB\"}",
		0, "bad_key", "", ""},
	{"rsa_even_n",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"0s1PGkbe9L-7RYjpZiaps2SXbVsAzg27dkThmKGNTxy1-sJ0Wk"
		"De1SJevPily8xKE3aIT9mXs-VTQ-zwIHwxKWRPfNXgQWiQ3DlNMltCdBGzfGz3CKGzChO_cTOaHqWs7_LytBH_iBIBYXKF4bX2Ur"
		"ZnmxhCuj8g8RgCy_V24BEgBxo33-kz_brXYccsqRGYPsuhE-NBn92sbEhOcuMIpMx93wEpv8humfrn_xcbtP0hV3ceVyUbUncgWU"
		"-PynvhTyByGUDs6AbHkICOpuGADqWifl-60MgAM0c33VqYvS3Q700VRZ791yDHudOoigfLmGWePoyTQalcX9uOSvmX1A\",\"e\""
		":\"AQAB\"}",
		0, "bad_key", "", ""},
	{"dup_member",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2"
		"ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\"}",
		0, "malformed", "", ""},
	{"deep",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2"
		"ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\",\"z\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]"
		"]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
		0, "too_deep", "", ""},
	{"huge",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2"
		"ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\",\"z\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
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
		"[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ"
		"2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"}]",
		0, "malformed", "", ""},
	{"empty",
		"",
		0, "malformed", "", ""},
	{"nul_in_string",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2"
		"ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\",\"z\":\"a\\u0000b\"}",
		0, "malformed", "", ""},
};

static const struct jwks_vector jwks_vectors[] = {
	{"mixed",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"HTy_4E9tGWyBj9fozXxWYMwVdRWYL8JcJ81u5JR5nmkKsWW"
		"dYmEONyEWNeCAtbXA\",\"y\":\"5sCx3SfOYQR2k7H4K9-CdSNp16aq02LrgA1eu51DrmhRXOMbr70o2kfn6O18HYwv\"},{\"k"
		"ty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"q1jm1iDXBb-n3dg7lCswJzM2OUYYC75Dk0F2DuDChS1RoTqCUmg6YZ"
		"KmGRmSZThkac1XLTGdmeAoSKDGfY10xAwnJQukUvEYAAMEN0AdnOTkiFG4B-CWIOmHhGPsbiAKNQCACm7x0mxhiTZiiuO3L1hJzA"
		"ZhdNgGaXaPosopMe8\",\"e\":\"AQAB\"},{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"puieTcAhp5aOE1"
		"7PKHe1ziieaT_f-u426j6uwHXgb8iShuKWbkgduzIBEKSH9_jKYWd-RmGza6LWrGitp65BOGxL4jrRpgkWeczd1gi8AjUNnvJvLA"
		"lc9KE-rBbcTsdi-PQVnXPQBoampXlwDq_LM1YlrEeLNyVJ3aRHRDEcYdaVPMhyvY7LNgPunsni2ONpqDeR5RshoIhVpiLpLojxLQ"
		"A6fWb3xsd-tuy--lr-DNIWokgqoK_mEM3ujO2Fpbp5f6fa11bx_YZPfT9EKUiVXgWzRZGy3TDlLFzN_Hnw82TKJoxvAsVMvibgcn"
		"euow2U9fWvpY5ivkYGWK3AfQ0Xf0o3vJZax12uvAaSSAD-ByRRbaeCVP8FJ3yE9IDcCN59NZ2DvPakNc5rDwQUhUdp4mEvOn_5zY"
		"dovF5ZsVcm29_j0mTF52s_tdKg1B2MgOzqQmQ4EdOAuk7Ndao_na8Bjc62WrAbg8dySdjvkJSezoVOOu_p4FNL4DJssrH1AF-wyy"
		"thuBlY-Icx5Y2UyiYNISApe7ND4_0MCz0fhtLoODNuUOjIgU92oc2wDDPZmGwNfEE_YE7sc3QC_JxRTWEg45DDW-d2q66K3l8uT7"
		"Ij5DLDAjXRpbvtXsEnLnn3uVqwCmkP4GvbNSxtghB1lAmr_r7KadW1krST9LKZ5UYkxFMg_8dHKCpFKHwH9k4IKf9FQYSkJ_AUdh"
		"iOPrDkeyuG45W1q1FZjmyCIE3_By9sisL6Zi23tFJ3BmU5FZ4uUSzALXZnKcgtnb_aPaZRkKD1pZvtrAJoPSh1AXXPlrNw9RplVy"
		"tnpN5UlnD_XPE6rpOwlFxq3rUGFder4Iwr83FRNCP1zGXH-Im1u8WgiNRQBbo88ZShAJGKKQrjY__ITDhUlGQUtiW4CnLXTrcgkV"
		"cU3HNhuU9zPqTV2vj0EZkdS6vkisTUFLCTtaDukiEik8XtJgCaosymgLamstiEyMy073SbtrO5Hgxrnt4lB-Ywm0vGYYzXjvrzhF"
		"K22oTX6mmxvWHVpeItGR_7FsNFJxRugn9GSKOhWGeOC40fmXxNqrSwLeA-mSSSqNUgjjqvvmrw1wDfB100WVj0AfvgaqKWunKB-6"
		"D4bdPY5dkoBelL0QzdKpz8-BYmGejgSHeTPAotDmNDnZXZQCGZdf8AO_xgRl7yPanDbsJKP3Q4VchrS50G3DMHv76436M2z9jWmt"
		"JJScUymjHZhUbl7dJdKZ6Tbs10mZVkQ-dehKTQwVpj1Dc5JnDT2GPIo7c0oD9Z4zce7OlnfyJdTP0UkOtldziugd6YsqiqN1yxXw"
		"_2fa3qcJNLC_-zKdWeIPqb1qGyirnS9pffipZrnkhisWVX3J7DHw\",\"e\":\"AQAB\"},{\"kty\":\"EC\",\"crv\":\"P-2"
		"56\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZD"
		"gM1mOjx7_Q\",\"kid\":\"ec-1\"},{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"0s1PGkbe9L-7RYjpZia"
		"ps2SXbVsAzg27dkThmKGNTxy1-sJ0WkDe1SJevPily8xKE3aIT9mXs-VTQ-zwIHwxKWRPfNXgQWiQ3DlNMltCdBGzfGz3CKGzChO"
		"_cTOaHqWs7_LytBH_iBIBYXKF4bX2UrZnmxhCuj8g8RgCy_V24BEgBxo33-kz_brXYccsqRGYPsuhE-NBn92sbEhOcuMIpMx93wE"
		"pv8humfrn_xcbtP0hV3ceVyUbUncgWU-PynvhTyByGUDs6AbHkICOpuGADqWifl-60MgAM0c33VqYvS3Q700VRZ791yDHudOoigf"
		"LmGWePoyTQalcX9uOSvmX1Q\",\"e\":\"AQAB\",\"use\":\"sig\"},{\"x\":\"AJG2waaP_dRayiQvw0glIZGzsTbOHXhiP"
		"wrLfQkaDiY\",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"ed\"},{\"kty\":\"EC\",\"crv\":\"P-256\","
		"\"x\":\"9uh-81AqdQdZoiSfNWBsolqdH6nFBQn9JGH9NVAk2t8\",\"y\":\"KPon_mlRt9tAvUTepP44z6Yz0bjnKZpErWO5Du"
		"U5jdk\",\"use\":\"enc\"},{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"V4Op_85L9NPbmyV-PqM6dmgfxv-dl8A"
		"w8NHlGJ69iks\"},{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"},{\"kty\":\"kem\"},{\"kt"
		"y\":\"EC\",\"crv\":\"P-256\",\"x\":\"9uh-81AqdQdZoiSfNWBsolqdH6nFBQn9JGH9NVAk2t8\",\"y\":\"KPon_mlRt"
		"9tAvUTepP44z6Yz0bjnKZpErWO5DuU5jdk\",\"alg\":\"ES512\"}]}",
		1, 3, {"ec-1", "BYgB7XNZqsMHywdCV07ArQYBsYBLZ-2VzqiFcp9kJzo", "ed"}},
	{"only_skipped",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"HTy_4E9tGWyBj9fozXxWYMwVdRWYL8JcJ81u5JR5nmkKsWW"
		"dYmEONyEWNeCAtbXA\",\"y\":\"5sCx3SfOYQR2k7H4K9-CdSNp16aq02LrgA1eu51DrmhRXOMbr70o2kfn6O18HYwv\"},{\"k"
		"ty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"q1jm1iDXBb-n3dg7lCswJzM2OUYYC75Dk0F2DuDChS1RoTqCUmg6YZ"
		"KmGRmSZThkac1XLTGdmeAoSKDGfY10xAwnJQukUvEYAAMEN0AdnOTkiFG4B-CWIOmHhGPsbiAKNQCACm7x0mxhiTZiiuO3L1hJzA"
		"ZhdNgGaXaPosopMe8\",\"e\":\"AQAB\"},{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"puieTcAhp5aOE1"
		"7PKHe1ziieaT_f-u426j6uwHXgb8iShuKWbkgduzIBEKSH9_jKYWd-RmGza6LWrGitp65BOGxL4jrRpgkWeczd1gi8AjUNnvJvLA"
		"lc9KE-rBbcTsdi-PQVnXPQBoampXlwDq_LM1YlrEeLNyVJ3aRHRDEcYdaVPMhyvY7LNgPunsni2ONpqDeR5RshoIhVpiLpLojxLQ"
		"A6fWb3xsd-tuy--lr-DNIWokgqoK_mEM3ujO2Fpbp5f6fa11bx_YZPfT9EKUiVXgWzRZGy3TDlLFzN_Hnw82TKJoxvAsVMvibgcn"
		"euow2U9fWvpY5ivkYGWK3AfQ0Xf0o3vJZax12uvAaSSAD-ByRRbaeCVP8FJ3yE9IDcCN59NZ2DvPakNc5rDwQUhUdp4mEvOn_5zY"
		"dovF5ZsVcm29_j0mTF52s_tdKg1B2MgOzqQmQ4EdOAuk7Ndao_na8Bjc62WrAbg8dySdjvkJSezoVOOu_p4FNL4DJssrH1AF-wyy"
		"thuBlY-Icx5Y2UyiYNISApe7ND4_0MCz0fhtLoODNuUOjIgU92oc2wDDPZmGwNfEE_YE7sc3QC_JxRTWEg45DDW-d2q66K3l8uT7"
		"Ij5DLDAjXRpbvtXsEnLnn3uVqwCmkP4GvbNSxtghB1lAmr_r7KadW1krST9LKZ5UYkxFMg_8dHKCpFKHwH9k4IKf9FQYSkJ_AUdh"
		"iOPrDkeyuG45W1q1FZjmyCIE3_By9sisL6Zi23tFJ3BmU5FZ4uUSzALXZnKcgtnb_aPaZRkKD1pZvtrAJoPSh1AXXPlrNw9RplVy"
		"tnpN5UlnD_XPE6rpOwlFxq3rUGFder4Iwr83FRNCP1zGXH-Im1u8WgiNRQBbo88ZShAJGKKQrjY__ITDhUlGQUtiW4CnLXTrcgkV"
		"cU3HNhuU9zPqTV2vj0EZkdS6vkisTUFLCTtaDukiEik8XtJgCaosymgLamstiEyMy073SbtrO5Hgxrnt4lB-Ywm0vGYYzXjvrzhF"
		"K22oTX6mmxvWHVpeItGR_7FsNFJxRugn9GSKOhWGeOC40fmXxNqrSwLeA-mSSSqNUgjjqvvmrw1wDfB100WVj0AfvgaqKWunKB-6"
		"D4bdPY5dkoBelL0QzdKpz8-BYmGejgSHeTPAotDmNDnZXZQCGZdf8AO_xgRl7yPanDbsJKP3Q4VchrS50G3DMHv76436M2z9jWmt"
		"JJScUymjHZhUbl7dJdKZ6Tbs10mZVkQ-dehKTQwVpj1Dc5JnDT2GPIo7c0oD9Z4zce7OlnfyJdTP0UkOtldziugd6YsqiqN1yxXw"
		"_2fa3qcJNLC_-zKdWeIPqb1qGyirnS9pffipZrnkhisWVX3J7DHw\",\"e\":\"AQAB\"},{\"kty\":\"EC\",\"crv\":\"P-2"
		"56\",\"x\":\"9uh-81AqdQdZoiSfNWBsolqdH6nFBQn9JGH9NVAk2t8\",\"y\":\"KPon_mlRt9tAvUTepP44z6Yz0bjnKZpEr"
		"WO5DuU5jdk\",\"use\":\"enc\"},{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"V4Op_85L9NPbmyV-PqM6dmgfxv"
		"-dl8Aw8NHlGJ69iks\"},{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"},{\"kty\":\"kem\"},"
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"9uh-81AqdQdZoiSfNWBsolqdH6nFBQn9JGH9NVAk2t8\",\"y\":\"KPon"
		"_mlRt9tAvUTepP44z6Yz0bjnKZpErWO5DuU5jdk\",\"alg\":\"ES512\"}]}",
		1, 0, {0}},
	{"empty_keys",
		"{\"keys\":[]}",
		1, 0, {0}},
	{"with_private",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\","
		"\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\",\"kid\":\"ec-1\"},{\"kty\":\"RSA\",\"key_ops\""
		":[\"verify\"],\"n\":\"0s1PGkbe9L-7RYjpZiaps2SXbVsAzg27dkThmKGNTxy1-sJ0WkDe1SJevPily8xKE3aIT9mXs-VTQ-"
		"zwIHwxKWRPfNXgQWiQ3DlNMltCdBGzfGz3CKGzChO_cTOaHqWs7_LytBH_iBIBYXKF4bX2UrZnmxhCuj8g8RgCy_V24BEgBxo33-"
		"kz_brXYccsqRGYPsuhE-NBn92sbEhOcuMIpMx93wEpv8humfrn_xcbtP0hV3ceVyUbUncgWU-PynvhTyByGUDs6AbHkICOpuGADq"
		"Wifl-60MgAM0c33VqYvS3Q700VRZ791yDHudOoigfLmGWePoyTQalcX9uOSvmX1Q\",\"e\":\"AQAB\",\"use\":\"sig\"},{"
		"\"x\":\"AJG2waaP_dRayiQvw0glIZGzsTbOHXhiPwrLfQkaDiY\",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\""
		"ed\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"9uh-81AqdQdZoiSfNWBsolqdH6nFBQn9JGH9NVAk2t8\",\"y\":"
		"\"KPon_mlRt9tAvUTepP44z6Yz0bjnKZpErWO5DuU5jdk\",\"d\":\"UL2eN_ZKL-HEeFshRcnFcTFNqGZKV-OGIGrKvWposIg"
		"\"}]}",
		0, 0, {0}},
	{"with_oct",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\","
		"\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\",\"kid\":\"ec-1\"},{\"kty\":\"RSA\",\"key_ops\""
		":[\"verify\"],\"n\":\"0s1PGkbe9L-7RYjpZiaps2SXbVsAzg27dkThmKGNTxy1-sJ0WkDe1SJevPily8xKE3aIT9mXs-VTQ-"
		"zwIHwxKWRPfNXgQWiQ3DlNMltCdBGzfGz3CKGzChO_cTOaHqWs7_LytBH_iBIBYXKF4bX2UrZnmxhCuj8g8RgCy_V24BEgBxo33-"
		"kz_brXYccsqRGYPsuhE-NBn92sbEhOcuMIpMx93wEpv8humfrn_xcbtP0hV3ceVyUbUncgWU-PynvhTyByGUDs6AbHkICOpuGADq"
		"Wifl-60MgAM0c33VqYvS3Q700VRZ791yDHudOoigfLmGWePoyTQalcX9uOSvmX1Q\",\"e\":\"AQAB\",\"use\":\"sig\"},{"
		"\"x\":\"AJG2waaP_dRayiQvw0glIZGzsTbOHXhiPwrLfQkaDiY\",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\""
		"ed\"},{\"kty\":\"oct\",\"k\":\"AAAA\"}]}",
		0, 0, {0}},
	{"bad_point",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\","
		"\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\",\"kid\":\"ec-1\"},{\"kty\":\"RSA\",\"key_ops\""
		":[\"verify\"],\"n\":\"0s1PGkbe9L-7RYjpZiaps2SXbVsAzg27dkThmKGNTxy1-sJ0WkDe1SJevPily8xKE3aIT9mXs-VTQ-"
		"zwIHwxKWRPfNXgQWiQ3DlNMltCdBGzfGz3CKGzChO_cTOaHqWs7_LytBH_iBIBYXKF4bX2UrZnmxhCuj8g8RgCy_V24BEgBxo33-"
		"kz_brXYccsqRGYPsuhE-NBn92sbEhOcuMIpMx93wEpv8humfrn_xcbtP0hV3ceVyUbUncgWU-PynvhTyByGUDs6AbHkICOpuGADq"
		"Wifl-60MgAM0c33VqYvS3Q700VRZ791yDHudOoigfLmGWePoyTQalcX9uOSvmX1Q\",\"e\":\"AQAB\",\"use\":\"sig\"},{"
		"\"x\":\"AJG2waaP_dRayiQvw0glIZGzsTbOHXhiPwrLfQkaDiY\",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\""
		"ed\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":"
		"\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_U\"}]}",
		0, 0, {0}},
	{"not_array",
		"{\"keys\":{}}",
		0, 0, {0}},
	{"no_keys",
		"{\"k\":[]}",
		0, 0, {0}},
	{"member_not_object",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\","
		"\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\",\"kid\":\"ec-1\"},{\"kty\":\"RSA\",\"key_ops\""
		":[\"verify\"],\"n\":\"0s1PGkbe9L-7RYjpZiaps2SXbVsAzg27dkThmKGNTxy1-sJ0WkDe1SJevPily8xKE3aIT9mXs-VTQ-"
		"zwIHwxKWRPfNXgQWiQ3DlNMltCdBGzfGz3CKGzChO_cTOaHqWs7_LytBH_iBIBYXKF4bX2UrZnmxhCuj8g8RgCy_V24BEgBxo33-"
		"kz_brXYccsqRGYPsuhE-NBn92sbEhOcuMIpMx93wEpv8humfrn_xcbtP0hV3ceVyUbUncgWU-PynvhTyByGUDs6AbHkICOpuGADq"
		"Wifl-60MgAM0c33VqYvS3Q700VRZ791yDHudOoigfLmGWePoyTQalcX9uOSvmX1Q\",\"e\":\"AQAB\",\"use\":\"sig\"},{"
		"\"x\":\"AJG2waaP_dRayiQvw0glIZGzsTbOHXhiPwrLfQkaDiY\",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\""
		"ed\"},\"x\"]}",
		0, 0, {0}},
	{"too_many",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\","
		"\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuX"
		"IiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{"
		"\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2E"
		"TZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkg"
		"ntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\""
		",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57"
		"uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5"
		"-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-2"
		"56\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZD"
		"gM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ"
		"\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\""
		"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"}"
		",{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ"
		"2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXr"
		"kgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC"
		"\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc"
		"57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgE"
		"T5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P"
		"-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24"
		"ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-e"
		"Q\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
		"\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q"
		"\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\""
		"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5k"
		"SXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":"
		"\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC"
		"0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_So"
		"wwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\""
		":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn"
		"3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwok"
		"LW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x"
		"\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7"
		"_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":"
		"\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN"
		"5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\""
		":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZ"
		"C0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_S"
		"owwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv"
		"\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBS"
		"Yn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKw"
		"okLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\","
		"\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mO"
		"jx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y"
		"\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiy"
		"qTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kt"
		"y\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgf"
		"HAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAY"
		"n_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"c"
		"rv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7C"
		"BSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7Q"
		"KwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\""
		",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1m"
		"Ojx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\""
		"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIi"
		"yqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"k"
		"ty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZg"
		"fHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntA"
		"Yn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\""
		"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7"
		"CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7"
		"QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256"
		"\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM"
		"1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\","
		"\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuX"
		"IiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{"
		"\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2E"
		"TZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkg"
		"ntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\""
		",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57"
		"uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5"
		"-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-2"
		"56\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZD"
		"gM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ"
		"\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\""
		"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"}"
		",{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ"
		"2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXr"
		"kgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC"
		"\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc"
		"57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgE"
		"T5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P"
		"-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24"
		"ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-e"
		"Q\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
		"\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q"
		"\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\""
		"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5k"
		"SXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":"
		"\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC"
		"0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_So"
		"wwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\""
		":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn"
		"3F24ZDgM1mOjx7_Q\"}]}",
		0, 0, {0}},
	{"sixty_four",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\","
		"\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuX"
		"IiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{"
		"\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2E"
		"TZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkg"
		"ntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\""
		",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57"
		"uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5"
		"-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-2"
		"56\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZD"
		"gM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ"
		"\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\""
		"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"}"
		",{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ"
		"2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXr"
		"kgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC"
		"\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc"
		"57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgE"
		"T5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P"
		"-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24"
		"ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-e"
		"Q\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
		"\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q"
		"\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\""
		"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5k"
		"SXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":"
		"\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC"
		"0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_So"
		"wwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\""
		":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn"
		"3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwok"
		"LW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x"
		"\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7"
		"_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":"
		"\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN"
		"5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\""
		":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZ"
		"C0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_S"
		"owwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv"
		"\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBS"
		"Yn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKw"
		"okLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\","
		"\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mO"
		"jx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y"
		"\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiy"
		"qTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kt"
		"y\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgf"
		"HAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAY"
		"n_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"c"
		"rv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7C"
		"BSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7Q"
		"KwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\""
		",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1m"
		"Ojx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\""
		"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIi"
		"yqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"k"
		"ty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZg"
		"fHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntA"
		"Yn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\""
		"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7"
		"CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7"
		"QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256"
		"\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM"
		"1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\","
		"\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuX"
		"IiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{"
		"\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2E"
		"TZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkg"
		"ntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\""
		",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57"
		"uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5"
		"-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-2"
		"56\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZD"
		"gM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ"
		"\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\""
		"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"}"
		",{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ"
		"2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXr"
		"kgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC"
		"\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc"
		"57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgE"
		"T5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P"
		"-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24"
		"ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-e"
		"Q\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
		"\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q"
		"\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\""
		"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5k"
		"SXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":"
		"\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_SowwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC"
		"0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EuXIiyqTN5kSXrkgntAYn_So"
		"wwgET5-z7QKwokLW-eQ\",\"y\":\"rdZ2ETZgfHAZC0BNc57uC7CBSYn3F24ZDgM1mOjx7_Q\"}]}",
		1, 64, {"9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q", "9vrpTCoATC9CLsrmicpzlzWwBRoEE8hqfquK_TaeW_Q"}},
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
		"aHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.AK_vw-oQbSx5Z5Y7JHvegfF9X6X_3W60fN0"
		"QuzoG-hqRtGdJ_l8OZi0Eu6vjLJjezO2SPc9lybK1wTG5c9iceA",
		1, "", "ec_p256", 1},
	{"rsa_2048_rs256",
		"eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoi"
		"aHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.eoSWxhppgQP6JS_SRJOEKpnKclNfZvuvuQC"
		"EOfB1FQt73afvYCNp22YAv4Q4S5R1ZZTpNUIPP85XKEuoemOZuZbPKcb3yJLlBegC_6Kh-aS6sNtuo85km32EkkR61K8tTzfznRx"
		"68px5VJvHEOHtAcCQK6lvDl--33bc3PN94LTXqo6rnOqko5EfvKHmnnD1Wfhl-9_JL09H9mQcn95meEIONIom93t-0_nntwqqCtD"
		"Zveil2dEQkdB_gaY9ssad6B-Sr9RrWyHuk_g3BAeXZDm0Ensj7MKvrBf9RfbZYz4JD2-K3TCQb_wiNraxRUmyw5F_XYuS6kMvaUA"
		"pE6gttQ",
		1, "", "rsa_2048", 1},
	{"rsa_2048_ps256",
		"eyJhbGciOiJQUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoi"
		"aHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.WabJVnWgANOyU-2K1Hh7Ix5kSHNpttFaWkl"
		"s7hjQf1GIZPfXoYPhv9_BlgNsaUg5MiqpBpkbovkHU7xXilR6WkRDrHMwmdrgbxJdN3PbE7CE8FVuhyknqdXWX2ted3hK_jGVJE1"
		"sX1bm9Naeqp8J0Cx_oPMVELso05OR_f1nL54Zqfz0RCLL_xUZnOpyfjAGoB2sbkWI23R7hrJOBl9ZTQrjEvLGUkRdhjRiiXU3XuF"
		"GHgty7uTSLdZxGQJgGpO-H4YEyZdOl9CQ1tsHhGlHjMQrltcCV4DyJKXi7LBfWLwF0pS4kmRtuot5NxilLPuVzXpvWa6yL7DDz5W"
		"EpPwlew",
		1, "", "rsa_2048", 1},
	{"rsa_3072_rs256_rs256",
		"eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoi"
		"aHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.TgR-ULzWiR_9LnnWXarjbKKK9kyL8NGiwsS"
		"5-I9p_Q5biBtV0Vmv_o0iLsviuxHN7yOJcxR9U6r-swDGy4xi8aWiKG1S-VT4rsntT6PWnYJh2eaBYkhHgN_QI9bKOg3Ztz4vcOt"
		"qByyfPTCuHyiQwWGzNyS9fEhz1JrqmMh1R6Qxh8GK4S-ro68nxJMD5UKJFOZJFf7bbjlmRDj55vxlVztPq34-G9Jlxg3QNtRMu1B"
		"5q09kpmU_QgBC4M06a_ZCejP90EarRFeZiu3DQv8Y77Z1_BlYJPNaJCoWpWHsCYg4HQEfPBsWTRAf0wAlk333GZChybMBf2U7hpC"
		"Dc0t4jt-K0eeQn4RKS1ia3CwcpBkfXl2A-GoEsbtr2vKImTVjE62OmTIaB6lKwFNEcp8glSrcBx6byI_bjq1CBWpvXgq4pO2cStT"
		"jHbtCVyXhx01t-tK-cUngxz2IDZPLhIMaa6a58-GHoSDzlJjsyiK69sn9ODLDh6_KrMP2tADhnuoo",
		1, "", "rsa_3072_rs256", 1},
	{"rsa_4096_ps256_ps256",
		"eyJhbGciOiJQUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoi"
		"aHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.ciLMnqljHIK9xu1COXwoK3w4Il4nvmw7IQz"
		"iCizAoFyMWAxgI4uBi4W-2P7G8N_mkbhTzn_Bz9pa0Zv7SglEcSCnPwVgKGhVDK9LXNhP0-TnaGTGHqhUJ529wIeVkoJtYy-hV0X"
		"cjENQN5KJ_fmJ9aAUqKWpnrf1L5fYIinc0KU2OxrV0BV7OwA37dmsLbTM7i5vVDDkoQOjDPBq1XHiDQDwFklhxB9P6SDQTmI2LtW"
		"RAzG5_XHlh8cacna4BXxIieT-m7_voofGVTKNDEeWFMNESmNndFIlPtylxJTWA_BLtH3JqwdrrDIY6u5EL-M9QN0CbHHWQvBP_wB"
		"7o5_Vjf2fVZJGQxKkodnuDBVHPBEuDrBWfR5LE_qyhciJA_Os5PGyYhlH9GZUpYrUrbGXuFpgJs-8Kt9CAOEbqTmqO47fy9DQuVY"
		"Ba9kY2UOq22N88J9HX7ai0OIO5sODGXv0spIAX-awsYxSoXuWOFxHxWnzF1vC7XXw9oNG8zkHtG1fzz_3F-bg3oqQTXMt5mFP7lE"
		"2bnD2M6LDx87bodifOBkO5NCFVFIbPKR1e6w_hXWTwaDgX2zN_ztl7svx9sIvV4VHIuD9eQYdHEl15sM6E-88Yiip1B1AYVBgHHW"
		"t5FjPmkqRFLE1dHTvZ_-fo74IERdsks8gxFGRR26RqrRq600",
		1, "", "rsa_4096_ps256", 1},
	{"ed25519_eddsa",
		"eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoi"
		"aHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.spQ5czPDHrPdu3hjXjc1yB8QaxrxehaadjR"
		"QVuIKCW9etkH1WMyzoND2kgRFe4SD8YLJ0o1bWWb0lH1GzSGMBg",
		1, "", "ed25519", 1},
	{"rsa_e3_rs256",
		"eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoi"
		"aHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.mqzGtQMm7VFxVA-YuFsCH8gMpbEL1dqmpkG"
		"mtKmcZTk4Zb5H3CkDNjInuzl-XCqJkQdQ4BZ7rqojyIpkujAJaRjF1Sz_CY-8DnjHvAporlWuCfwX-X34RepoBxlfadgEJTl4mVX"
		"u-N5n1OC3KrBrJRj3EbU0GcO0joYq03aHCiofeJyR8GITWtvevPdL_n3HwoXt1XHhq273gnbUSAaUCFcgEcV6uyYbcQMOgjvTFKe"
		"nTH15QPTRfet1ERwKHFwlZ7M_imXTdvEPTcCn-Ja1qjB_V8b46u6waVPjANy69PLR8ii5JwgYOxWBWOLIRqG0wOOPvqKMtoYX6Y6"
		"aM5YyAw",
		1, "", "rsa_e3", 1},
	{"es256_other_key",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.5cneZ5sjH6zwuDsuZil8UQEYG8MzCgdR"
		"s7_soFCN_FHCZqt2RQ9KA8wR6DnPkcfCeNN_8TmMGDlthl3JaCjOag",
		1, "", "ec_p256_2", 0},
	{"eddsa_other_key",
		"eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.c3RHQvS0NvBgFvCIFdeGDSkbcRAcdQ0hT_cCrKx4kKosLdzjoi"
		"JVue5Jq2Kbkmg3EWivuwyALbePeL_tGAwSCw",
		1, "", "ed25519_2", 0},
	{"rs256_on_3072",
		"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.Y-0M2YzbtgwadcqCdCwfWC2uM3Y5U5ZnG0VexgiAFmBe9CSYaD"
		"rWysnfavc1Tf3piBoAU1w-VAWSQig2S4lKxgvtXBMKH5fJRRJBJvfYVUKf8yCev_cNVpuNJgRxJ9N4A9C-aRaPHmo7IDJAg31SCg"
		"gar_A0S5nYBl-FP-Cu3_TBFHMdPm2ixHTK2v9IcWEVxkUrEqEx87Pi6J_ZSat_WolvvOCWK8HdfeEETFJi-Qob4DbgEizJsBnoHs"
		"fFxqRb-OZWZXP3aaHH_Dw_ugAdgcXJRBzHz1_41GCyvkF-taPv8uzvbt6JoOQLQd3H2SPu1ZAiHtDaOfIrlpEN3fu-Vw",
		1, "", "rsa_3072_rs256", 0},
	{"rs256_on_ps256_key",
		"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.QED-drlskN9xR7WCoTZ_BSX2Pd5rctJSVIwlWWJjrvYk1aguuG"
		"HDCnIhINduFiRAsFJ7Di9v6n0X6_oiM6rRJJM4OG0Dy-iHyPWhLdbDyui8v0VMbRF8LjeXomdLROCKC2RYXF_xV4ssoiwVfkNA09"
		"JfROaOcSGMqG3eQupat6UmzCXcOGgSXMkr2q5F1foZUeXvP3etRCF0oE7uy9A13z28MWb7Y0euPAFbcR139T7h_Oa-wiq1ddFMym"
		"xJrAGeenRkyHz4JtF3_W_-aJZFBZLUqhiUP6JTxAUyceVQ7EI-pcfAOclQqIftZq51BRbGE7Ke76zYaUvmOXVcxT75-eZT4Ss0fa"
		"c_OQP_DURFZkIAsory9qJZH4S8Cv_YAQbqsDmRoeGZCEFm-sF3dl9NeCD7VQVOr_B-w4Z_3ICQ4T-rnqq1hHciU3_0Aayg57KX9r"
		"0csrGBu17sYctXQsjcOPZ9epu_kbvPyeRtZpOIjw8q7UAVKKKVijpjj1uVTZEXKaISIrFuHMy1xGWwR8SzCYSm7juk-EW6IDMSzt"
		"nKhF51jXtE1xToCvrGMQTkqDjfRCmAXI0ahVQOaUjJOVNiF2WSe8B3uPGPL4881rdJpt6DPqSt_3GfTaihI1BK15BlxPk1O42sHd"
		"_W58uwX4E1q6jB1VdEuytAXs6ra9NFb5A",
		1, "", "rsa_4096_ps256", 0},
	{"ps256_on_rs256_key",
		"eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.J6dc_gIqTKR5m1m5K2wLkFmEqEjfh2qf4kWoHmnjNIcQwUreOe"
		"-Jfq0JHyWoRR_IgcG0nlyKW9BJYQqS5Gn_jhh2snlEn5G14-I0cSPx7b7-AV6SS5KCMpju9Aykqdl11fa4IEsRu6qlzwJXf5kLaI"
		"pPQShAlmSiP1f4DVO5uPo4OhUuCTtKhKmyVKn_D0rnNX4S7x0Iq8WoVsBvdLAKMiccQECYosO3cSnU2XncfF47yBBedZc5dXN_7I"
		"lLqT-__5UVonp1e_wWn0wyuwEKPJ4r_Q0S1XeX9KKsKVOvANRX2Isx0cdt7Tsx-V5vyqH9Xtm9iqn1NWA-7fBEtVAKjweMYOpUNe"
		"fDUzqwL74xgSvN6h58Az2iVokWET0kdhVRcB740R6IqjCeZvwVujoxrEtE0AEgR9V3sl78dEaTRCOenupfC-ZtzHuojYgAqmCR1_"
		"Kd57M88yfn7k7ExOmeHzm8e_tJ7TQxwApj8oY-f1BlldR7UnTbYqiRehKxQoKS",
		1, "", "rsa_3072_rs256", 0},
	{"es256_on_ed25519",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.5cneZ5sjH6zwuDsuZil8UQEYG8MzCgdR"
		"s7_soFCN_FHCZqt2RQ9KA8wR6DnPkcfCeNN_8TmMGDlthl3JaCjOag",
		1, "", "ed25519", 0},
	{"eddsa_on_ec",
		"eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.c3RHQvS0NvBgFvCIFdeGDSkbcRAcdQ0hT_cCrKx4kKosLdzjoi"
		"JVue5Jq2Kbkmg3EWivuwyALbePeL_tGAwSCw",
		1, "", "ec_p256", 0},
	{"es256_flipped",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.5cneZ5sjH6zwuHsuZil8UQEYG8MzCgdR"
		"s7_soFCN_FHCZqt2RQ9KA8wR6DnPkcfCeNN_8TmMGDlthl3JaCjOag",
		1, "", "ec_p256", 0},
	{"es256_sig_short",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.5cneZ5sjH6zwuHsuZil8UQEYG8MzCgdR"
		"s7_soFCN_FHCZqt2RQ9KA8wR6DnPkcfCeNN_8TmMGDlthl3JaCjO",
		1, "", "ec_p256", 0},
	{"es256_sig_long",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.5cneZ5sjH6zwuHsuZil8UQEYG8MzCgdR"
		"s7_soFCN_FHCZqt2RQ9KA8wR6DnPkcfCeNN_8TmMGDlthl3JaCjOagA",
		1, "", "ec_p256", 0},
	{"es256_der_sig",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.MEYCIQDaOPJn5p7eoBT3uDU0HwJsRDBM"
		"GxwqJCwpvtWhnlFpmAIhAP1IIw0FT3mqT4O0Y27xYRr7yKVFlWg9w7jwKakZCY9D",
		1, "", "ec_p256", 0},
	{"es256_raw_ok",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.pQVMLAFsO-_50eWCV27ZLBHvDXCLVVtQ"
		"CP7tEEyRhH0ZHNwToWW3Yrp6wDAy4b9AUZKfya10i3xNgZKxVCYhaw",
		1, "", "ec_p256", 1},
	{"es256_high_s",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.pQVMLAFsO-_50eWCV27ZLBHvDXCLVVtQ"
		"CP7tEEyRhH3m4yPrXppInkWFP8_NHkC_a1Ra4_mjEwimODgRqD0D5g",
		1, "", "ec_p256", 1},
	{"rs256_swapped_payload",
		"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF95IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.Y-0M2YzbtgwadcqCdCwfWC2uM3Y5U5ZnG0VexgiAFmBe9CSYaD"
		"rWysnfavc1Tf3piBoAU1w-VAWSQig2S4lKxgvtXBMKH5fJRRJBJvfYVUKf8yCev_cNVpuNJgRxJ9N4A9C-aRaPHmo7IDJAg31SCg"
		"gar_A0S5nYBl-FP-Cu3_TBFHMdPm2ixHTK2v9IcWEVxkUrEqEx87Pi6J_ZSat_WolvvOCWK8HdfeEETFJi-Qob4DbgEizJsBnoHs"
		"fFxqRb-OZWZXP3aaHH_Dw_ugAdgcXJRBzHz1_41GCyvkF-taPv8uzvbt6JoOQLQd3H2SPu1ZAiHtDaOfIrlpEN3fu-Vw",
		1, "", "rsa_2048", 0},
	{"rs256_sig_truncated",
		"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.Y-0M2YzbtgwadcqCdCwfWC2uM3Y5U5ZnG0VexgiAFmBe9CSYaD"
		"rWysnfavc1Tf3piBoAU1w-VAWSQig2S4lKxgvtXBMKH5fJRRJBJvfYVUKf8yCev_cNVpuNJgRxJ9N4A9C-aRaPHmo7IDJAg31SCg"
		"gar_A0S5nYBl-FP-Cu3_TBFHMdPm2ixHTK2v9IcWEVxkUrEqEx87Pi6J_ZSat_WolvvOCWK8HdfeEETFJi-Qob4DbgEizJsBnoHs"
		"fFxqRb-OZWZXP3aaHH_Dw_ugAdgcXJRBzHz1_41GCyvkF-taPv8uzvbt6JoOQLQd3H2SPu1ZAiHtDaOfIrlpEN3Q",
		1, "", "rsa_2048", 0},
	{"rs256_sig_cut",
		"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.Y-0M2YzbtgwadcqCdCwfWC2uM3Y5U5ZnG0VexgiAFmBe9CSYaD"
		"rWysnfavc1Tf3piBoAU1w-VAWSQig2S4lKxgvtXBMKH5fJRRJBJvfYVUKf8yCev_cNVpuNJgRxJ9N4A9C-aRaPHmo7IDJAg31SCg"
		"gar_A0S5nYBl-FP-Cu3_TBFHMdPm2ixHTK2v9IcWEVxkUrEqEx87Pi6J_ZSat_WolvvOCWK8HdfeEETFJi-Qob4DbgEizJsBnoHs"
		"fFxqRb-OZWZXP3aaHH_Dw_ugAdgcXJRBzHz1_41GCyvkF-taPv8uzvbt6JoOQLQd3H2SPu1ZAiHtDaOfIrlpEN3",
		0, "malformed", "rsa_2048", 0},
	{"ps256_max_salt",
		"eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.SncrQ465maq_IqTwijDi0twwYTObjOsqaF8RHsRGgDAbzhLV9Z"
		"GugmmiVUmDgZi8_N8Oqokd2tsU6slXrOAs0ztVE0G7LfVAxuq5jB8O33I-2zDDFZDf-1DVLiZNGW7bxxqn200-8ndoasDg5Ug-ci"
		"pc9QRxYnh-eGzxxIF-f4Qe8KLJ9gkyaBQ8TEm7usXoh3iBQs9DletLPGN_TtmYea-n0-ZoGJmit4rr8_Rxzt0Nl3qsdRLCXeljRF"
		"8rwSd3LTu9457m_hkcRnFT9z5S_nw4mIBAzlgTSsTtfVj5-UqvFwRQbHIUSsI2Su5Yh9oZxUnLreHguozp0EenT__lKQ",
		1, "", "rsa_2048", 0},
	{"ps256_mgf1_sha1",
		"eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.iA6Ku4_6p_beiW4_a56d3vgAY3QEJWX6qCPZcktvDAz3nMS1kt"
		"vTFVuAKxJuHeY9Oa3Cu-j3-fd5qn-3eugyNJHi4qP-12re_dQlDTVcBt9Ek8LQpBMue1rnTDa43nYQUdlngrnIcUibRnc7j9LqVP"
		"nPaE8ex612gvSSlaSLFfGk4IQqXDsjirwhC7OhKwRdkGCoLeX0bgjAMcwCfHyRgqpaCaSYvE4EQgeIIF3imH4ONzGWolNOyHn80d"
		"AqnegCyJwE8GfvyiWgDnJVcvngjNlKJ-GsEa96GF4-hfjpPsZKc4I3gzE3YQ8yCQOFL2Tozdy4Rwlq8sgkC8oUlAFyGw",
		1, "", "rsa_2048", 0},
	{"es256_header_rsa_key",
		"eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXh"
		"wIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.icBkglI2-6kAJUIM9WQHBvbmwprmzqvkPMQVEqhAEU6A6lZ3lVYVspAJX6lfCxQ4dz"
		"QLDJ_oGJth9HoiNt-7_CNlG2M9TbsF80415SAy-YkZ9YJ_tWViUUC6wVggRDsiElYUEu9azMUdIPCXPQWCcbk89Kq9NauCnLmyWC"
		"8Wg18d3WS0XM4n6YlB1mjo8Y0R9evQIMJS-2ZnIsVuwM5htXdbtwJqlXRbwrRsGBhluQWskQ9MHc5h0-SA5m0-DD6MNMSQULC24h"
		"wGRPI4Ry6c-kRILWB3_m3Oyj6csy32hKsmyqk6CK94FOuIR8kOg_rSsAM4W5W1uqhwgBJqU9K1BQ",
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
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.gSzHH3VE0NBYhJN6eZZ9IxWjvtUll5hQ_9Bm-f61dFg",
		0, "bad_alg", "rsa_2048", 0},
	{"hs256_public_jwk",
		"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.WG2RMB8CKttGEAg_F2N3THOHm_kNPvtbIYTFwjS_3nA",
		0, "bad_alg", "rsa_2048", 0},
	{"es384",
		"eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.m4WN8BJYVydSBk14CPEtQKVWjusfmAttOxBFgmlOppMSx5J27x"
		"Sps7WhSzLCGWQRkuY92yK5XTokOKXcrV1PITzxBEjRAsV3h6VwTWgjTPyTH_YBLm7utJE_5Yg0fOxP",
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
		"dF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.9XGMCyRm7LeFhSzCJLJ"
		"SIn95LxBbn8mv5zm-UP12BCxYkzGzGG6NEsGAuHv604p5lmaNy8Yjc7D7OrKZk8pXgA",
		0, "crit", "ec_p256", 0},
	{"b64_false",
		"eyJhbGciOiJFUzI1NiIsImI2NCI6ZmFsc2UsImNyaXQiOlsiYjY0Il0sInR5cCI6IkpXVCJ9..tl1nRfgh5z5xqX6cUYcJr3botz"
		"H_ffbRE0W0uzsT-cgiR5fbXPYvQ4ws1V-e4_0GiKdKM1bhQ97oJtj8xidG7w",
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
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.5cneZ5sjH6zwuDsuZil8UQEYG8MzCgdR"
		"s7_soFCN_FHCZqt2RQ9KA8wR6DnPkcfCeNN_8TmMGDlthl3JaCjOag.AAAA",
		0, "malformed", "ec_p256", 0},
	{"extra_dot",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.5cneZ5sjH6zwuDsuZil8UQEYG8MzCgdR"
		"s7_soFCN_FHCZqt2RQ9KA8wR6DnPkcfCeNN_8TmMGDlthl3JaCjOag.",
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
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ..5cneZ5sjH6zwuDsuZil8UQEYG8MzCgdRs7_soFCN_FHC"
		"Zqt2RQ9KA8wR6DnPkcfCeNN_8TmMGDlthl3JaCjOag",
		0, "malformed", "ec_p256", 0},
	{"padded_header",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ=.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVk"
		"IjoiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.5cneZ5sjH6zwuDsuZil8UQEYG8MzCgd"
		"Rs7_soFCN_FHCZqt2RQ9KA8wR6DnPkcfCeNN_8TmMGDlthl3JaCjOag",
		0, "malformed", "ec_p256", 0},
	{"padded_sig",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.5cneZ5sjH6zwuDsuZil8UQEYG8MzCgdR"
		"s7_soFCN_FHCZqt2RQ9KA8wR6DnPkcfCeNN_8TmMGDlthl3JaCjOag==",
		0, "malformed", "ec_p256", 0},
	{"std_b64_sig",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.5cneZ5sjH6zwuDsuZil8UQEYG8MzCgdR"
		"s7/soFCN/FHCZqt2RQ9KA8wR6DnPkcfCeNN/8TmMGDlthl3JaCjOag",
		0, "malformed", "ec_p256", 0},
	{"whitespace",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9 .5cneZ5sjH6zwuDsuZil8UQEYG8MzCgd"
		"Rs7_soFCN_FHCZqt2RQ9KA8wR6DnPkcfCeNN_8TmMGDlthl3JaCjOag",
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
		"eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJhIjpbW1tbW1tbW1tbW1tbWzFdXV1dXV1dXV1dXV1dXX0.yX9PKAqo8U8SB7I"
		"TTzHbTmZGYj_9i9RADuUFMRnL2tDkEAMd1tYb3tpKHnebHHr1rIhY_uAHO02tS6E76w6c1Q",
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
		"4eHh4eHh4eHh4eHh4eHh4eHh4In0.pJgl428oxUUM2oM8CkwgAeDSirNVQXzd38eSWxOZAqzUoHtJcGg6CVZQQjqgCJcyRcqk578"
		"VztuxSY_SBkP6yw",
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
		"4eHh4eHh4eHh4eHh4eHh4eHh4In0.jM5j7f17AZtGdlQ2vHfvY9n1mgc2CyS46cXXyKcAZdVRQZa5pk9c3kszul0p6zlm3pn3emH"
		"ylX7PCQdA6w0oMw",
		1, "", "ec_p256", 1},
	{"dpop_proof",
		"eyJhbGciOiJFUzI1NiIsImp3ayI6eyJjcnYiOiJQLTI1NiIsImt0eSI6IkVDIiwieCI6IkV1WElpeXFUTjVrU1hya2dudEFZbl9T"
		"b3d3Z0VUNS16N1FLd29rTFctZVEiLCJ5IjoicmRaMkVUWmdmSEFaQzBCTmM1N3VDN0NCU1luM0YyNFpEZ00xbU9qeDdfUSJ9LCJ0"
		"eXAiOiJkcG9wK2p3dCJ9.eyJodG0iOiJQT1NUIiwiaHR1IjoiaHR0cHM6Ly9hcy5leGFtcGxlL3Rva2VuIiwiaWF0IjoxNzkwMDA"
		"wMDAwLCJqdGkiOiJwMSJ9.2yn1aVvo02gZWJ6RhMAgE5JPXC-6mXtF-avLwKNazvzRcYyVh69JuE6WGa0A9cRTtbPXKLzFRmuY7M"
		"X83rlpww",
		1, "", "ec_p256", 1},
};

#endif
