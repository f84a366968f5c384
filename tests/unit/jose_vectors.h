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
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw"
		"1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\",\"kid\":\"ec-1\"}",
		1, "", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "ec-1"},
	{"ec_p256_2",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"nl1NSGodxsgEWc2FUEq1QOh0ADEl7EDOnWRL8Ypxo4c\",\"y\":\"Pbpf"
		"Rx7hiH96myrZJqwqPKAYl-qTrwKY9cag7Lkz3sk\"}",
		1, "", "_TIeeFC-307_mUo1o7YLN5NHfwDWc_Jpi2qr9daXhDA", "_TIeeFC-307_mUo1o7YLN5NHfwDWc_Jpi2qr9daXhDA"},
	{"rsa_2048",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"0uURvZSbM4uOAB5ji-JFsF6AJFUYAE8mcNcF6s-IBz8jsGb_e3"
		"hhHu7TWg4618joAPjH_EcpwQy-QX3pTIa4rWxituWvI73xsNm8h_VsJpzPY1WGNnE2tFlCCn5lDXPUZIx_g_yJa96Tz12slJKNvr"
		"thTg93l1P9xI4wqJq_ysqFTlb-4OOGgNdGy8K9SUX5NuJd11sNDst6VAvmB-Edprf4Vzq7A_KaSjtEyar6qDE76yFRy3MbJMNZxq"
		"F5Vzgqq7VER-_447KqWj_upMDxD11k7vxV1__at6sqqwluEYkUtp8DDUxe25xdvy_NGkVc7s7iXxswdq4ZVwLEZ26IEw\",\"e\""
		":\"AQAB\",\"use\":\"sig\"}",
		1, "", "FdluGFAiMz3jXVlLtqDMnGjRUT7MDgJb9hW7E3c-eK8", "FdluGFAiMz3jXVlLtqDMnGjRUT7MDgJb9hW7E3c-eK8"},
	{"rsa_3072_rs256",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"wIUHC7uJqKxrRf09SjMO6YG4g8JVJ622JME6H3CBOewLdiyw9P"
		"PhEAy6a2psX0e7GtgL8zI1T3RBnStyP0CmzpAOQSC0dtMuyMQ4xHRkr8HIdv_W7xm0Wrq-GBCFwxrztzoqY0uJeBhG5Wg4wP1apE"
		"Og91aVZwq4raly9Ij5cSuZFIFvgBJxf_NL9az8_rdLvBWH9pF1Fc3OltKIjyMqLxhG1i4KKuFCZ7TrB3enkfmbG22-MIkoGVZxMK"
		"PjyP7xd1G_jKfwcC5r_f-KHosnyg7xJQoTPsjhg2IIMvQ77SscIv2I993YJ4YgQovcEVOlIScUy_d4uFeOvRe749mLhhQjZeXLan"
		"Im2TT6jeg6GLyw4U68TeoAdlehgrKx7jJehSzGYxl0NVnu57xAxcPCVbsZLHUqcWVMt--mjr29tIgznGYtutkEv8MO7WUA71YuKB"
		"1WrDSCYaxD2wXVAch80mjgfPjor_ZmL6yRmEX8hpL-BvaDuC_qZ5_3j4KdmpiH\",\"e\":\"AQAB\",\"alg\":\"RS256\",\""
		"kid\":\"rsa-3\"}",
		1, "", "CH5G_kEclW8Z4-gE0046UogKMe4_53lC6oCxtLjwQNA", "rsa-3"},
	{"rsa_4096_ps256",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"oVB9lioX1Pvzih35jxfRYLfMN24dmePfCW5i1w3mKCalX2hqRS"
		"HLHjZFkoGAJKka5GI-WiGQauctmB2FDkAA2vX3F_bElYEG9S3sihzXmqRcHiZJkBa5CaK0NaQXpXZ2HAbgr81Dh8Ro4ZXwR322dL"
		"CjjzERljGMsc5sCx_sAJ7xVD7hu0X8B5XdmzNBqMCq8Y9mojbGpvAUYFoCLM1VdBtKBKyIKk9ZtMtwAwOr0vJEOCdGCzqY3d-ofi"
		"PBCuEnCyEwN-TP30NFGXEGVa5nJQh_VFqxrLZb7dmPUmEFB0YdDB7RLOgSBrcbSSQ-RMOqG1ejBFGuoNGLt6ZSdSD1vrVQb8h6P0"
		"kApcq_zvNlooklJE0LXdD_KVc8T792QPa5ZJZuWIQgtBjNdB2xpR2yviixhXg1hN9StYDaDnQq02dE-6Kyzkq1vazOEXQXbRLgim"
		"wU9tu4n8lQRD5-UtqUL01PYIayVSGvf8bkKG3hgeDpj3b2MLxF8NaWCRIXCoGTNpEQWLHPxJO906AAccAyhQ_70DMx9z1uvXrU-7"
		"AZo-C856R7p0HnCI3DRYxvwn163Pjlr27X1u7oba8swQyxW3rE8RTy1x7e5v1Uk-5pbTrOsoAn7_oRenAJty__3-ShaMDOHY6ilz"
		"DMxLXzc_Ld8Rv4VRqqYdcCaFiug88pja8\",\"e\":\"AQAB\",\"alg\":\"PS256\"}",
		1, "", "VjGRl0YGcOoPI1-iFWcy5ROynJfZXMX3JCMTa-hhKi4", "VjGRl0YGcOoPI1-iFWcy5ROynJfZXMX3JCMTa-hhKi4"},
	{"rsa_e3",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"u8GnDq9gsUdW9iAyDl0Dj07VTMiWT5MpGXq_wI4Runa3CFTqtR"
		"fojzi1xhVaLxmlBNXBwtRaGVddNSXGj15GI0P_1Ind5Znoq3pFjoZtZ86Vy-WHeltw_oQ_sOZV7KZ-9oJI_C_q4l3uJGJgI2B5jk"
		"NFEuJufn59uwagal_K7Pa09d8RtXhf45StXvOYVisXaPU2sN_NbcA3yIgltifRX6P1j9t2t74nFPI1FjBOuDoDc2ezyjc4fhzQsN"
		"leSAfWTur874__Du0dAkXKBc6yUMRTi1zS_9ewNLht2a8RBs9Wx74H9DcgnaWFhrvtwq_tF9YqWrQyw59TLKjfWGSSRQ\",\"e\""
		":\"Aw\"}",
		1, "", "vozsOhp-AEi93nz7H-hYvxdq6Bz5DcDUvwXXmn3Qxbs", "vozsOhp-AEi93nz7H-hYvxdq6Bz5DcDUvwXXmn3Qxbs"},
	{"ed25519",
		"{\"x\":\"UklS1zUBn05HD4KZ1zIqdaRld3tCsX1ZLBtqz1wBRmE\",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":"
		"\"ed\"}",
		1, "", "uLY7qAUJ3ueuc1ORlnp-nU3Pl-C8Y9f_iq6_fiyxGrA", "ed"},
	{"ed25519_2",
		"{\"x\":\"11ZLMgm6z7tz_5lNd4gyoXvzy7mxITx2JAiKXB9-QEk\",\"kty\":\"OKP\",\"crv\":\"Ed25519\"}",
		1, "", "Qol4IAp43jiW_ppJuQ22GbBKV3HcC1o-RXi0rnx7-lU", "Qol4IAp43jiW_ppJuQ22GbBKV3HcC1o-RXi0rnx7-lU"},
	{"rfc7638",
		"{\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFx"
		"uhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
		"FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0"
		"fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw\",\"e\":\"AQAB\",\"alg\":\"RS256"
		"\",\"kid\":\"2011-04-29\"}",
		1, "", "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", "2011-04-29"},
	{"ec_p256_spaced",
		"{\012  \"y\": \"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\",\012  \"x\": \"3egv6Pt9gKz5vOy9GAb3zvg"
		"lM7qMTBbZeMt0hwLDZBk\",\012  \"crv\": \"P-256\",\012  \"kty\": \"EC\"\012}",
		1, "", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc"},
	{"ec_private",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw"
		"1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\",\"d\":\"lkg93G4IUm4fJsj4X1TKpW3wE5VlNOYDtZyKswb-Idc\"}",
		0, "private_key", "", ""},
	{"rsa_private",
		"{\"kty\":\"RSA\",\"key_ops\":[\"sign\"],\"n\":\"0uURvZSbM4uOAB5ji-JFsF6AJFUYAE8mcNcF6s-IBz8jsGb_e3hh"
		"Hu7TWg4618joAPjH_EcpwQy-QX3pTIa4rWxituWvI73xsNm8h_VsJpzPY1WGNnE2tFlCCn5lDXPUZIx_g_yJa96Tz12slJKNvrth"
		"Tg93l1P9xI4wqJq_ysqFTlb-4OOGgNdGy8K9SUX5NuJd11sNDst6VAvmB-Edprf4Vzq7A_KaSjtEyar6qDE76yFRy3MbJMNZxqF5"
		"Vzgqq7VER-_447KqWj_upMDxD11k7vxV1__at6sqqwluEYkUtp8DDUxe25xdvy_NGkVc7s7iXxswdq4ZVwLEZ26IEw\",\"e\":"
		"\"AQAB\",\"d\":\"CuiqeEH9nTb0y3DG-W9k53Cb9EUqjqmJdYDJ35GImcdcUz2grYRWkcEM0bW2uX688X_s6FHOCRxdowmeTcU"
		"SPHZEzO0omBK1M86vf-DkDUNDPwInhR1qFP4g-mX7WCzLqb_SwMMJYLkMsEdKLA1Ao8MRj3YhW4SOteIdBjuq_BRRsgQVvpJ2uXQ"
		"YhkhjIm6AeSsHh3R6uRC2OMmg_2mmUw9rk70JVE7sPJJo4e9jKpgIQ939NZTtXrc-6qBpwz3gAd0k8bXft9n6VpMWwpaMPgIJ0YV"
		"ycidAy3iTEuE9idCzSiN8GPqGLRwJoURe9WOhPR5zbdA4xjHLA9MBYKq_EQ\",\"p\":\"7N5B5wujE_5k6oimz4p_iQvFyiP0Wq"
		"peQhWIANMKQJUFOGtd2b9oBBc7ZQCKcH07KxAgXocShEmoMMSmmBzkYegFEzPzyV2eGhgI9Q5BoZynpWPL612u8zNBxJagUe7bKl"
		"haKQiUdiOG39YFJ7ef6QC5Ca-WyLxYeomPc__pdJU\",\"q\":\"4-3CCxi_XiBdXlkXSmrUHSAfsiw5-lFwcfn1L5Y001l1Ozoz"
		"y0Q4Ykg_DAMaak0nsM5y5gI2-8XDltFl7rIflW7fQLiMdvubRSdfzdAXyli2EDpxNhmG5wJrn4NlTXGAEblvH3VXdpDzTXtdrY8o"
		"DGqPPDIvyFtxeFFzhn-s-Ac\",\"dp\":\"usrjKbLxnbjGGHY_JffQb2DLT4dfEYi84Fxeblf_A8MA5Oc2kZryChfQDOyKP_9iA"
		"6mp_SGDprL3Yc4Smm5eZB82sVgM7kVXgrhlh-sAMtR5GGJE042Dg-JuAPvP3g0A5LncD_PmL-wAVtBOLG4QOw0I3uyLei2dkLSeX"
		"hn4Hqk\",\"dq\":\"QGgT9_zDPr7Yg2ubaDztuVk1e6yBqZlPs_VU8mB4hux1cwoMTrj1UdhmcGeEFFu_BnggAZzImraUgU6khi"
		"GxSRGuZmR_1LNeedkZelf-EQCmWcmZ6hamhyqo7Mc9Xfffn6KNow8OawOkrNVacEvOnkuSNAledThZxQ0HHw9--gs\",\"qi\":"
		"\"2r335vzkoI2dYy1KHACSEJbzHGIgurj8jg7En2pjNSpN_FSWVTd0shX_-49uOIP--GDuZBSzS_odhDR-YEGrlKsgiG9JqgyPfX"
		"3_1oLYHQ3rX5_RcNlH9QzzGIj6-euAkrYUnEbf5_76voX4VRxMIOsb-HI7elObbKriviPwX9w\"}",
		0, "private_key", "", ""},
	{"okp_private",
		"{\"x\":\"UklS1zUBn05HD4KZ1zIqdaRld3tCsX1ZLBtqz1wBRmE\",\"d\":\"PBPgvkvrHQryGHBu_UA1bC-Wk3EuYJ2xJ6x1S"
		"UcVdOE\",\"kty\":\"OKP\",\"crv\":\"Ed25519\"}",
		0, "private_key", "", ""},
	{"oct",
		"{\"kty\":\"oct\",\"k\":\"BXnFXOLNy_Lw-if-UiZv5zyJMP1wgjv90ZcecqeVwEo\"}",
		0, "private_key", "", ""},
	{"oct_no_k",
		"{\"kty\":\"oct\",\"alg\":\"HS256\"}",
		0, "private_key", "", ""},
	{"rsa_only_p",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"0uURvZSbM4uOAB5ji-JFsF6AJFUYAE8mcNcF6s-IBz8jsGb_e3"
		"hhHu7TWg4618joAPjH_EcpwQy-QX3pTIa4rWxituWvI73xsNm8h_VsJpzPY1WGNnE2tFlCCn5lDXPUZIx_g_yJa96Tz12slJKNvr"
		"thTg93l1P9xI4wqJq_ysqFTlb-4OOGgNdGy8K9SUX5NuJd11sNDst6VAvmB-Edprf4Vzq7A_KaSjtEyar6qDE76yFRy3MbJMNZxq"
		"F5Vzgqq7VER-_447KqWj_upMDxD11k7vxV1__at6sqqwluEYkUtp8DDUxe25xdvy_NGkVc7s7iXxswdq4ZVwLEZ26IEw\",\"e\""
		":\"AQAB\",\"p\":\"AQAB\"}",
		0, "private_key", "", ""},
	{"ec_p384",
		"{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"Ug0T3R_Z-5LOi1pFr7qsXm3rLyNubgryX7Pq2M-wJGFOOPwY74HytQp53Z"
		"ToH-Iw\",\"y\":\"cWcJWDMdG28fHN8JESIn0CdcnPX3Q8dRQZa8WxGLwjhm_s09k3dwC49_yX3eymV2\"}",
		0, "unsupported_curve", "", ""},
	{"ec_secp256k1",
		"{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"osfcCEs0If2Cip98ODe0hEf1Rm9zX145Puwg55dtj00\",\"y\":\""
		"QNWEeECn7ibtLHN4A2B91eLrnx8UHYE6bS7tp3cw4RI\"}",
		0, "unsupported_curve", "", ""},
	{"rsa_1024",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"woWApeqMgxNXpixTH383hDBaaU3m163Y76Jh83FJL7bWOic2H4"
		"42CHt_XbVdL1Ymf5LsgHAVJPWpVSXgzZoHy12anHoyMYBnBxWO-yEkvPgOqlFrAKt8pO_f9ZNnvbapjUwkIt9nLl5MzsiKH_2E9P"
		"KarBpwauz6OM53uwGghGk\",\"e\":\"AQAB\"}",
		0, "key_size", "", ""},
	{"rsa_8192",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"nc91Ymrt_dLkiDEE6Z75VZVQjsOeNE2FIPKs9r7HdjELSHFSfI"
		"EZUdzr9ZNc8LleW9_RYgOT_vKi5r2ddTNJVnkoXAjO15nfgxotv1GauqsDL8nEopyWQUQec2LQfmxWfMV8vjJJDNKMHqXf09h1qR"
		"CUxO6840SsIsTX6R15xT8prSZjIaLt9MNizfCkM8xBo9CfMsNKmiS4m9MmF9wP6iuPRHzTi_tuOvpw3gok1RrAep2Zd8sBHzQK40"
		"C479VuBgTMCro0jA538UNE1cIrYBggsp9dKFqpSevusgamessZqOqQSdH5J5J6gdaxiQjdVFajcdN3T-VOEpMh_-Oxow_SYj7UK2"
		"p2dHP74wPA7WfUJh_JlFLUWCOAZr5GctOB4Ezw3Zo-skY4pEfPOzonvHt1AxODUF81PGu7H16CkDoZtbs99RIyseviUTeyyH0VeE"
		"SIxJC-PNvGiqLuXi_4K0WEZWp0NZgu-hQSI7HNMOT-YConM-Qxpffhd5ehvSDDyrOCaUmjK2Yan-H8D_sChfKMNzrfrituMgczSB"
		"ljPrbkZ5PmSa2corEwNoOOAg8mnVEThghVXnVtA4vYRzWtTyyTfgP9VF0leMk-aXSGWxx4rT4jkoiHrxeDnk9_yp2sDKprI-fiUR"
		"eN_30lX5OZxGnBhyXJCzbUNIDeW_KAXCXKAs1OtjXYbn2RC9TTN0KhAZkEudDiPwKZxPG-M_Rk9GgK6Lc5_le8iqH8CQT-TNuZf-"
		"3cpzM9ZnNYRG66nex5uJNhs-Dv7tZJYMv-SFPP2kT3_XmqRjB04IWOsgupecHwtXb60KBQRKgy0Thaz2v1iv291G95gS3SniGUNn"
		"07p_LWQ3Le89PFvshaxh_IRJFULeUc_jzdz9OX8APZMHasGwvzvdAgXoCLZHOwmuWzMY0jutUaFd6P_RcDoSU2_3C7RkLFM3hP6O"
		"-yLkoibvvZfk1EXy75pch2ftd6O-Dx-jbMpkrxnxgAqsMGjoVShi_Qt-XmGGM0hh04CzUMMiIb4kcama_5upxx2UvRPTN-JxsyYB"
		"Cbr1GECv-lYn6IzscVCYyPfaOB82niYEzkSSX30G9P52QlRgSg7DFNy4C7usd2jbwhJ9NVMijcGEPCVeRI1AbRWTAvuHbwxcajXs"
		"QOSzsxyQT2-lcL22AkwCRtQks1a9l4TJfbtIax6XE1ICvNAL7trnTPMtmxd4ayH4_pSGJ6KDqSCjxIk5SWQjoEZ-GWYhbVn4pttz"
		"uy4S73D5rCE1uuUe6ih-71uL2i43hBnN0tYlvwnoN16K06ckHwKDQ3F0viJTPLThOwpVAOKSmmrEXvYrU_LCLp8nN6yjd0V6VnTQ"
		"8w3Sug7dKB-Qk7Zw\",\"e\":\"AQAB\"}",
		0, "key_size", "", ""},
	{"okp_x25519",
		"{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"6EjPOdvgCStvZvnD7HXOEZI9OEyLaFF5qhBob7RBnXo\"}",
		0, "unsupported_curve", "", ""},
	{"okp_ed448",
		"{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":\"a0a8niz65T_Vph_4alj30rADQ2AgCew3-ZHi_t5fLVfassgt4TE-WTFQs"
		"dDHy4VouviZFFhSKGyA\"}",
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
		"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"vuEBvJdJcxV-1JWmLDP63Bj02BX4dfethYC-6DDr2w\"}",
		0, "bad_key", "", ""},
	{"ec_off_curve",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw"
		"1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yk\"}",
		0, "bad_key", "", ""},
	{"ec_short_x",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"6C_o-32ArPm87L0YBvfO-CUzuoxMFtl4y3SHAsNkGQ\",\"y\":\"qJsw1"
		"aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"}",
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
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk=\",\"y\":\"qJs"
		"w1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"}",
		0, "bad_key", "", ""},
	{"ec_alg_rs256",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw"
		"1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\",\"alg\":\"RS256\"}",
		0, "alg_mismatch", "", ""},
	{"ec_alg_es384",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw"
		"1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\",\"alg\":\"ES384\"}",
		0, "unsupported_alg", "", ""},
	{"ec_alg_hs256",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw"
		"1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\",\"alg\":\"HS256\"}",
		0, "unsupported_alg", "", ""},
	{"ec_alg_none",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw"
		"1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\",\"alg\":\"none\"}",
		0, "unsupported_alg", "", ""},
	{"ec_use_enc",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw"
		"1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\",\"use\":\"enc\"}",
		0, "not_signature_key", "", ""},
	{"ec_ops_sign_only",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw"
		"1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\",\"key_ops\":[\"sign\"]}",
		0, "not_signature_key", "", ""},
	{"ec_kid_number",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw"
		"1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\",\"kid\":7}",
		0, "bad_key", "", ""},
	{"ec_kid_long",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw"
		"1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\",\"kid\":\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
		"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\"}",
		0, "bad_kid", "", ""},
	{"ec_kid_empty",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw"
		"1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\",\"kid\":\"\"}",
		0, "bad_kid", "", ""},
	{"ec_kid_ctl",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw"
		"1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\",\"kid\":\"a\\nb\"}",
		0, "bad_kid", "", ""},
	{"ec_no_kty",
		"{\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UI"
		"NwFmvF6wFFI153w7npci66Yg\"}",
		0, "bad_key", "", ""},
	{"ec_kty_lower",
		"{\"kty\":\"ec\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw"
		"1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"}",
		0, "unsupported_key", "", ""},
	{"rsa_even_e",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"0uURvZSbM4uOAB5ji-JFsF6AJFUYAE8mcNcF6s-IBz8jsGb_e3"
		"hhHu7TWg4618joAPjH_EcpwQy-QX3pTIa4rWxituWvI73xsNm8h_VsJpzPY1WGNnE2tFlCCn5lDXPUZIx_g_yJa96Tz12slJKNvr"
		"thTg93l1P9xI4wqJq_ysqFTlb-4OOGgNdGy8K9SUX5NuJd11sNDst6VAvmB-Edprf4Vzq7A_KaSjtEyar6qDE76yFRy3MbJMNZxq"
		"F5Vzgqq7VER-_447KqWj_upMDxD11k7vxV1__at6sqqwluEYkUtp8DDUxe25xdvy_NGkVc7s7iXxswdq4ZVwLEZ26IEw\",\"e\""
		":\"AQAA\"}",
		0, "bad_key", "", ""},
	{"rsa_e1",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"0uURvZSbM4uOAB5ji-JFsF6AJFUYAE8mcNcF6s-IBz8jsGb_e3"
		"hhHu7TWg4618joAPjH_EcpwQy-QX3pTIa4rWxituWvI73xsNm8h_VsJpzPY1WGNnE2tFlCCn5lDXPUZIx_g_yJa96Tz12slJKNvr"
		"thTg93l1P9xI4wqJq_ysqFTlb-4OOGgNdGy8K9SUX5NuJd11sNDst6VAvmB-Edprf4Vzq7A_KaSjtEyar6qDE76yFRy3MbJMNZxq"
		"F5Vzgqq7VER-_447KqWj_upMDxD11k7vxV1__at6sqqwluEYkUtp8DDUxe25xdvy_NGkVc7s7iXxswdq4ZVwLEZ26IEw\",\"e\""
		":\"AQ\"}",
		0, "bad_key", "", ""},
	{"rsa_e_huge",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"0uURvZSbM4uOAB5ji-JFsF6AJFUYAE8mcNcF6s-IBz8jsGb_e3"
		"hhHu7TWg4618joAPjH_EcpwQy-QX3pTIa4rWxituWvI73xsNm8h_VsJpzPY1WGNnE2tFlCCn5lDXPUZIx_g_yJa96Tz12slJKNvr"
		"thTg93l1P9xI4wqJq_ysqFTlb-4OOGgNdGy8K9SUX5NuJd11sNDst6VAvmB-Edprf4Vzq7A_KaSjtEyar6qDE76yFRy3MbJMNZxq"
		"F5Vzgqq7VER-_447KqWj_upMDxD11k7vxV1__at6sqqwluEYkUtp8DDUxe25xdvy_NGkVc7s7iXxswdq4ZVwLEZ26IEw\",\"e\""
		":\"AQEBAQEBAQEB\"}",
		0, "bad_key", "", ""},
	{"rsa_leading_zero",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"ANLlEb2UmzOLjgAeY4viRbBegCRVGABPJnDXBerPiAc_I7Bm_3"
		"t4YR7u01oOOtfI6AD4x_xHKcEMvkF96UyGuK1sYrblryO98bDZvIf1bCacz2NVhjZxNrRZQgp-ZQ1z1GSMf4P8iWvek89drJSSjb"
		"67YU4Pd5dT_cSOMKiav8rKhU5W_uDjhoDXRsvCvUlF-TbiXddbDQ7LelQL5gfhHaa3-Fc6uwPymko7RMmq-qgxO-shUctzGyTDWc"
		"aheVc4Kqu1REfv-OOyqlo_7qTA8Q9dZO78Vdf_2rerKqsJbhGJFLafAw1MXtucXb8vzRpFXO7O4l8bMHauGVcCxGduiBM\",\"e"
		"\":\"AQAB\"}",
		1, "", "FdluGFAiMz3jXVlLtqDMnGjRUT7MDgJb9hW7E3c-eK8", "FdluGFAiMz3jXVlLtqDMnGjRUT7MDgJb9hW7E3c-eK8"},
	{"rsa_even_n",
		"{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"0uURvZSbM4uOAB5ji-JFsF6AJFUYAE8mcNcF6s-IBz8jsGb_e3"
		"hhHu7TWg4618joAPjH_EcpwQy-QX3pTIa4rWxituWvI73xsNm8h_VsJpzPY1WGNnE2tFlCCn5lDXPUZIx_g_yJa96Tz12slJKNvr"
		"thTg93l1P9xI4wqJq_ysqFTlb-4OOGgNdGy8K9SUX5NuJd11sNDst6VAvmB-Edprf4Vzq7A_KaSjtEyar6qDE76yFRy3MbJMNZxq"
		"F5Vzgqq7VER-_447KqWj_upMDxD11k7vxV1__at6sqqwluEYkUtp8DDUxe25xdvy_NGkVc7s7iXxswdq4ZVwLEZ26IEg\",\"e\""
		":\"AQAB\"}",
		0, "bad_key", "", ""},
	{"dup_member",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw"
		"1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\"}",
		0, "malformed", "", ""},
	{"deep",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw"
		"1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\",\"z\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]"
		"]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
		0, "too_deep", "", ""},
	{"huge",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw"
		"1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\",\"z\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
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
		"[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJs"
		"w1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"}]",
		0, "malformed", "", ""},
	{"empty",
		"",
		0, "malformed", "", ""},
	{"nul_in_string",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw"
		"1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\",\"z\":\"a\\u0000b\"}",
		0, "malformed", "", ""},
};

static const struct jwks_vector jwks_vectors[] = {
	{"mixed",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"Ug0T3R_Z-5LOi1pFr7qsXm3rLyNubgryX7Pq2M-wJGFOOPw"
		"Y74HytQp53ZToH-Iw\",\"y\":\"cWcJWDMdG28fHN8JESIn0CdcnPX3Q8dRQZa8WxGLwjhm_s09k3dwC49_yX3eymV2\"},{\"k"
		"ty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"woWApeqMgxNXpixTH383hDBaaU3m163Y76Jh83FJL7bWOic2H442CH"
		"t_XbVdL1Ymf5LsgHAVJPWpVSXgzZoHy12anHoyMYBnBxWO-yEkvPgOqlFrAKt8pO_f9ZNnvbapjUwkIt9nLl5MzsiKH_2E9PKarB"
		"pwauz6OM53uwGghGk\",\"e\":\"AQAB\"},{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"nc91Ymrt_dLkiD"
		"EE6Z75VZVQjsOeNE2FIPKs9r7HdjELSHFSfIEZUdzr9ZNc8LleW9_RYgOT_vKi5r2ddTNJVnkoXAjO15nfgxotv1GauqsDL8nEop"
		"yWQUQec2LQfmxWfMV8vjJJDNKMHqXf09h1qRCUxO6840SsIsTX6R15xT8prSZjIaLt9MNizfCkM8xBo9CfMsNKmiS4m9MmF9wP6i"
		"uPRHzTi_tuOvpw3gok1RrAep2Zd8sBHzQK40C479VuBgTMCro0jA538UNE1cIrYBggsp9dKFqpSevusgamessZqOqQSdH5J5J6gd"
		"axiQjdVFajcdN3T-VOEpMh_-Oxow_SYj7UK2p2dHP74wPA7WfUJh_JlFLUWCOAZr5GctOB4Ezw3Zo-skY4pEfPOzonvHt1AxODUF"
		"81PGu7H16CkDoZtbs99RIyseviUTeyyH0VeESIxJC-PNvGiqLuXi_4K0WEZWp0NZgu-hQSI7HNMOT-YConM-Qxpffhd5ehvSDDyr"
		"OCaUmjK2Yan-H8D_sChfKMNzrfrituMgczSBljPrbkZ5PmSa2corEwNoOOAg8mnVEThghVXnVtA4vYRzWtTyyTfgP9VF0leMk-aX"
		"SGWxx4rT4jkoiHrxeDnk9_yp2sDKprI-fiUReN_30lX5OZxGnBhyXJCzbUNIDeW_KAXCXKAs1OtjXYbn2RC9TTN0KhAZkEudDiPw"
		"KZxPG-M_Rk9GgK6Lc5_le8iqH8CQT-TNuZf-3cpzM9ZnNYRG66nex5uJNhs-Dv7tZJYMv-SFPP2kT3_XmqRjB04IWOsgupecHwtX"
		"b60KBQRKgy0Thaz2v1iv291G95gS3SniGUNn07p_LWQ3Le89PFvshaxh_IRJFULeUc_jzdz9OX8APZMHasGwvzvdAgXoCLZHOwmu"
		"WzMY0jutUaFd6P_RcDoSU2_3C7RkLFM3hP6O-yLkoibvvZfk1EXy75pch2ftd6O-Dx-jbMpkrxnxgAqsMGjoVShi_Qt-XmGGM0hh"
		"04CzUMMiIb4kcama_5upxx2UvRPTN-JxsyYBCbr1GECv-lYn6IzscVCYyPfaOB82niYEzkSSX30G9P52QlRgSg7DFNy4C7usd2jb"
		"whJ9NVMijcGEPCVeRI1AbRWTAvuHbwxcajXsQOSzsxyQT2-lcL22AkwCRtQks1a9l4TJfbtIax6XE1ICvNAL7trnTPMtmxd4ayH4"
		"_pSGJ6KDqSCjxIk5SWQjoEZ-GWYhbVn4pttzuy4S73D5rCE1uuUe6ih-71uL2i43hBnN0tYlvwnoN16K06ckHwKDQ3F0viJTPLTh"
		"OwpVAOKSmmrEXvYrU_LCLp8nN6yjd0V6VnTQ8w3Sug7dKB-Qk7Zw\",\"e\":\"AQAB\"},{\"kty\":\"EC\",\"crv\":\"P-2"
		"56\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153"
		"w7npci66Yg\",\"kid\":\"ec-1\"},{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"0uURvZSbM4uOAB5ji-J"
		"FsF6AJFUYAE8mcNcF6s-IBz8jsGb_e3hhHu7TWg4618joAPjH_EcpwQy-QX3pTIa4rWxituWvI73xsNm8h_VsJpzPY1WGNnE2tFl"
		"CCn5lDXPUZIx_g_yJa96Tz12slJKNvrthTg93l1P9xI4wqJq_ysqFTlb-4OOGgNdGy8K9SUX5NuJd11sNDst6VAvmB-Edprf4Vzq"
		"7A_KaSjtEyar6qDE76yFRy3MbJMNZxqF5Vzgqq7VER-_447KqWj_upMDxD11k7vxV1__at6sqqwluEYkUtp8DDUxe25xdvy_NGkV"
		"c7s7iXxswdq4ZVwLEZ26IEw\",\"e\":\"AQAB\",\"use\":\"sig\"},{\"x\":\"UklS1zUBn05HD4KZ1zIqdaRld3tCsX1ZL"
		"Btqz1wBRmE\",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"ed\"},{\"kty\":\"EC\",\"crv\":\"P-256\","
		"\"x\":\"nl1NSGodxsgEWc2FUEq1QOh0ADEl7EDOnWRL8Ypxo4c\",\"y\":\"PbpfRx7hiH96myrZJqwqPKAYl-qTrwKY9cag7L"
		"kz3sk\",\"use\":\"enc\"},{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"oMAUojCR4gICirisLy_h48Blxmausj8"
		"m_Dm5lujz4Qc\"},{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"},{\"kty\":\"kem\"},{\"kt"
		"y\":\"EC\",\"crv\":\"P-256\",\"x\":\"nl1NSGodxsgEWc2FUEq1QOh0ADEl7EDOnWRL8Ypxo4c\",\"y\":\"PbpfRx7hi"
		"H96myrZJqwqPKAYl-qTrwKY9cag7Lkz3sk\",\"alg\":\"ES512\"}]}",
		1, 3, {"ec-1", "FdluGFAiMz3jXVlLtqDMnGjRUT7MDgJb9hW7E3c-eK8", "ed"}},
	{"only_skipped",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"Ug0T3R_Z-5LOi1pFr7qsXm3rLyNubgryX7Pq2M-wJGFOOPw"
		"Y74HytQp53ZToH-Iw\",\"y\":\"cWcJWDMdG28fHN8JESIn0CdcnPX3Q8dRQZa8WxGLwjhm_s09k3dwC49_yX3eymV2\"},{\"k"
		"ty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"woWApeqMgxNXpixTH383hDBaaU3m163Y76Jh83FJL7bWOic2H442CH"
		"t_XbVdL1Ymf5LsgHAVJPWpVSXgzZoHy12anHoyMYBnBxWO-yEkvPgOqlFrAKt8pO_f9ZNnvbapjUwkIt9nLl5MzsiKH_2E9PKarB"
		"pwauz6OM53uwGghGk\",\"e\":\"AQAB\"},{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"nc91Ymrt_dLkiD"
		"EE6Z75VZVQjsOeNE2FIPKs9r7HdjELSHFSfIEZUdzr9ZNc8LleW9_RYgOT_vKi5r2ddTNJVnkoXAjO15nfgxotv1GauqsDL8nEop"
		"yWQUQec2LQfmxWfMV8vjJJDNKMHqXf09h1qRCUxO6840SsIsTX6R15xT8prSZjIaLt9MNizfCkM8xBo9CfMsNKmiS4m9MmF9wP6i"
		"uPRHzTi_tuOvpw3gok1RrAep2Zd8sBHzQK40C479VuBgTMCro0jA538UNE1cIrYBggsp9dKFqpSevusgamessZqOqQSdH5J5J6gd"
		"axiQjdVFajcdN3T-VOEpMh_-Oxow_SYj7UK2p2dHP74wPA7WfUJh_JlFLUWCOAZr5GctOB4Ezw3Zo-skY4pEfPOzonvHt1AxODUF"
		"81PGu7H16CkDoZtbs99RIyseviUTeyyH0VeESIxJC-PNvGiqLuXi_4K0WEZWp0NZgu-hQSI7HNMOT-YConM-Qxpffhd5ehvSDDyr"
		"OCaUmjK2Yan-H8D_sChfKMNzrfrituMgczSBljPrbkZ5PmSa2corEwNoOOAg8mnVEThghVXnVtA4vYRzWtTyyTfgP9VF0leMk-aX"
		"SGWxx4rT4jkoiHrxeDnk9_yp2sDKprI-fiUReN_30lX5OZxGnBhyXJCzbUNIDeW_KAXCXKAs1OtjXYbn2RC9TTN0KhAZkEudDiPw"
		"KZxPG-M_Rk9GgK6Lc5_le8iqH8CQT-TNuZf-3cpzM9ZnNYRG66nex5uJNhs-Dv7tZJYMv-SFPP2kT3_XmqRjB04IWOsgupecHwtX"
		"b60KBQRKgy0Thaz2v1iv291G95gS3SniGUNn07p_LWQ3Le89PFvshaxh_IRJFULeUc_jzdz9OX8APZMHasGwvzvdAgXoCLZHOwmu"
		"WzMY0jutUaFd6P_RcDoSU2_3C7RkLFM3hP6O-yLkoibvvZfk1EXy75pch2ftd6O-Dx-jbMpkrxnxgAqsMGjoVShi_Qt-XmGGM0hh"
		"04CzUMMiIb4kcama_5upxx2UvRPTN-JxsyYBCbr1GECv-lYn6IzscVCYyPfaOB82niYEzkSSX30G9P52QlRgSg7DFNy4C7usd2jb"
		"whJ9NVMijcGEPCVeRI1AbRWTAvuHbwxcajXsQOSzsxyQT2-lcL22AkwCRtQks1a9l4TJfbtIax6XE1ICvNAL7trnTPMtmxd4ayH4"
		"_pSGJ6KDqSCjxIk5SWQjoEZ-GWYhbVn4pttzuy4S73D5rCE1uuUe6ih-71uL2i43hBnN0tYlvwnoN16K06ckHwKDQ3F0viJTPLTh"
		"OwpVAOKSmmrEXvYrU_LCLp8nN6yjd0V6VnTQ8w3Sug7dKB-Qk7Zw\",\"e\":\"AQAB\"},{\"kty\":\"EC\",\"crv\":\"P-2"
		"56\",\"x\":\"nl1NSGodxsgEWc2FUEq1QOh0ADEl7EDOnWRL8Ypxo4c\",\"y\":\"PbpfRx7hiH96myrZJqwqPKAYl-qTrwKY9"
		"cag7Lkz3sk\",\"use\":\"enc\"},{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"oMAUojCR4gICirisLy_h48Blxm"
		"ausj8m_Dm5lujz4Qc\"},{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"},{\"kty\":\"kem\"},"
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"nl1NSGodxsgEWc2FUEq1QOh0ADEl7EDOnWRL8Ypxo4c\",\"y\":\"Pbpf"
		"Rx7hiH96myrZJqwqPKAYl-qTrwKY9cag7Lkz3sk\",\"alg\":\"ES512\"}]}",
		1, 0, {0}},
	{"empty_keys",
		"{\"keys\":[]}",
		1, 0, {0}},
	{"with_private",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\","
		"\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\",\"kid\":\"ec-1\"},{\"kty\":\"RSA\",\"key_ops\""
		":[\"verify\"],\"n\":\"0uURvZSbM4uOAB5ji-JFsF6AJFUYAE8mcNcF6s-IBz8jsGb_e3hhHu7TWg4618joAPjH_EcpwQy-QX"
		"3pTIa4rWxituWvI73xsNm8h_VsJpzPY1WGNnE2tFlCCn5lDXPUZIx_g_yJa96Tz12slJKNvrthTg93l1P9xI4wqJq_ysqFTlb-4O"
		"OGgNdGy8K9SUX5NuJd11sNDst6VAvmB-Edprf4Vzq7A_KaSjtEyar6qDE76yFRy3MbJMNZxqF5Vzgqq7VER-_447KqWj_upMDxD1"
		"1k7vxV1__at6sqqwluEYkUtp8DDUxe25xdvy_NGkVc7s7iXxswdq4ZVwLEZ26IEw\",\"e\":\"AQAB\",\"use\":\"sig\"},{"
		"\"x\":\"UklS1zUBn05HD4KZ1zIqdaRld3tCsX1ZLBtqz1wBRmE\",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\""
		"ed\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"nl1NSGodxsgEWc2FUEq1QOh0ADEl7EDOnWRL8Ypxo4c\",\"y\":"
		"\"PbpfRx7hiH96myrZJqwqPKAYl-qTrwKY9cag7Lkz3sk\",\"d\":\"O9OKvxaTkFL99teASowLvMcsf7BBkVVkrIRlNhxKY2s"
		"\"}]}",
		0, 0, {0}},
	{"with_oct",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\","
		"\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\",\"kid\":\"ec-1\"},{\"kty\":\"RSA\",\"key_ops\""
		":[\"verify\"],\"n\":\"0uURvZSbM4uOAB5ji-JFsF6AJFUYAE8mcNcF6s-IBz8jsGb_e3hhHu7TWg4618joAPjH_EcpwQy-QX"
		"3pTIa4rWxituWvI73xsNm8h_VsJpzPY1WGNnE2tFlCCn5lDXPUZIx_g_yJa96Tz12slJKNvrthTg93l1P9xI4wqJq_ysqFTlb-4O"
		"OGgNdGy8K9SUX5NuJd11sNDst6VAvmB-Edprf4Vzq7A_KaSjtEyar6qDE76yFRy3MbJMNZxqF5Vzgqq7VER-_447KqWj_upMDxD1"
		"1k7vxV1__at6sqqwluEYkUtp8DDUxe25xdvy_NGkVc7s7iXxswdq4ZVwLEZ26IEw\",\"e\":\"AQAB\",\"use\":\"sig\"},{"
		"\"x\":\"UklS1zUBn05HD4KZ1zIqdaRld3tCsX1ZLBtqz1wBRmE\",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\""
		"ed\"},{\"kty\":\"oct\",\"k\":\"AAAA\"}]}",
		0, 0, {0}},
	{"bad_point",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\","
		"\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\",\"kid\":\"ec-1\"},{\"kty\":\"RSA\",\"key_ops\""
		":[\"verify\"],\"n\":\"0uURvZSbM4uOAB5ji-JFsF6AJFUYAE8mcNcF6s-IBz8jsGb_e3hhHu7TWg4618joAPjH_EcpwQy-QX"
		"3pTIa4rWxituWvI73xsNm8h_VsJpzPY1WGNnE2tFlCCn5lDXPUZIx_g_yJa96Tz12slJKNvrthTg93l1P9xI4wqJq_ysqFTlb-4O"
		"OGgNdGy8K9SUX5NuJd11sNDst6VAvmB-Edprf4Vzq7A_KaSjtEyar6qDE76yFRy3MbJMNZxqF5Vzgqq7VER-_447KqWj_upMDxD1"
		"1k7vxV1__at6sqqwluEYkUtp8DDUxe25xdvy_NGkVc7s7iXxswdq4ZVwLEZ26IEw\",\"e\":\"AQAB\",\"use\":\"sig\"},{"
		"\"x\":\"UklS1zUBn05HD4KZ1zIqdaRld3tCsX1ZLBtqz1wBRmE\",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\""
		"ed\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":"
		"\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yk\"}]}",
		0, 0, {0}},
	{"not_array",
		"{\"keys\":{}}",
		0, 0, {0}},
	{"no_keys",
		"{\"k\":[]}",
		0, 0, {0}},
	{"member_not_object",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\","
		"\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\",\"kid\":\"ec-1\"},{\"kty\":\"RSA\",\"key_ops\""
		":[\"verify\"],\"n\":\"0uURvZSbM4uOAB5ji-JFsF6AJFUYAE8mcNcF6s-IBz8jsGb_e3hhHu7TWg4618joAPjH_EcpwQy-QX"
		"3pTIa4rWxituWvI73xsNm8h_VsJpzPY1WGNnE2tFlCCn5lDXPUZIx_g_yJa96Tz12slJKNvrthTg93l1P9xI4wqJq_ysqFTlb-4O"
		"OGgNdGy8K9SUX5NuJd11sNDst6VAvmB-Edprf4Vzq7A_KaSjtEyar6qDE76yFRy3MbJMNZxqF5Vzgqq7VER-_447KqWj_upMDxD1"
		"1k7vxV1__at6sqqwluEYkUtp8DDUxe25xdvy_NGkVc7s7iXxswdq4ZVwLEZ26IEw\",\"e\":\"AQAB\",\"use\":\"sig\"},{"
		"\"x\":\"UklS1zUBn05HD4KZ1zIqdaRld3tCsX1ZLBtqz1wBRmE\",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\""
		"ed\"},\"x\"]}",
		0, 0, {0}},
	{"too_many",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\","
		"\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3eg"
		"v6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{"
		"\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1"
		"aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9"
		"GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\""
		",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UI"
		"NwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTB"
		"bZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-2"
		"56\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153"
		"w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk"
		"\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\""
		"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"}"
		",{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJs"
		"w1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vO"
		"y9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC"
		"\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5"
		"UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qM"
		"TBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P"
		"-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI1"
		"53w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZB"
		"k\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
		"\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg"
		"\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\""
		"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz"
		"5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":"
		"\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6r"
		"CKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvgl"
		"M7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\""
		":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6w"
		"FFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hw"
		"LDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x"
		"\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66"
		"Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":"
		"\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9g"
		"Kz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\""
		":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6"
		"rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvg"
		"lM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv"
		"\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF"
		"6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0"
		"hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\","
		"\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npc"
		"i66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y"
		"\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6P"
		"t9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kt"
		"y\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrH"
		"Ad6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3"
		"zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"c"
		"rv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFm"
		"vF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeM"
		"t0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\""
		",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7np"
		"ci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\""
		"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6"
		"Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"k"
		"ty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLr"
		"HAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb"
		"3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\""
		"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwF"
		"mvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZe"
		"Mt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256"
		"\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7"
		"npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\","
		"\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3eg"
		"v6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{"
		"\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1"
		"aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9"
		"GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\""
		",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UI"
		"NwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTB"
		"bZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-2"
		"56\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153"
		"w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk"
		"\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\""
		"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"}"
		",{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJs"
		"w1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vO"
		"y9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC"
		"\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5"
		"UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qM"
		"TBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P"
		"-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI1"
		"53w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZB"
		"k\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
		"\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg"
		"\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\""
		"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz"
		"5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":"
		"\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6r"
		"CKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvgl"
		"M7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\""
		":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6w"
		"FFI153w7npci66Yg\"}]}",
		0, 0, {0}},
	{"sixty_four",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\","
		"\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3eg"
		"v6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{"
		"\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1"
		"aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9"
		"GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\""
		",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UI"
		"NwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTB"
		"bZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-2"
		"56\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153"
		"w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk"
		"\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\""
		"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"}"
		",{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJs"
		"w1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vO"
		"y9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC"
		"\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5"
		"UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qM"
		"TBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P"
		"-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI1"
		"53w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZB"
		"k\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
		"\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg"
		"\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\""
		"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz"
		"5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":"
		"\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6r"
		"CKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvgl"
		"M7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\""
		":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6w"
		"FFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hw"
		"LDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x"
		"\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66"
		"Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":"
		"\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9g"
		"Kz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\""
		":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6"
		"rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvg"
		"lM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv"
		"\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF"
		"6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0"
		"hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\","
		"\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npc"
		"i66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y"
		"\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6P"
		"t9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kt"
		"y\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrH"
		"Ad6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3"
		"zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"c"
		"rv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFm"
		"vF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeM"
		"t0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\""
		",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7np"
		"ci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\""
		"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6"
		"Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"k"
		"ty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLr"
		"HAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb"
		"3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\""
		"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwF"
		"mvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZe"
		"Mt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256"
		"\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7"
		"npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\","
		"\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3eg"
		"v6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{"
		"\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1"
		"aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9"
		"GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\""
		",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UI"
		"NwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTB"
		"bZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-2"
		"56\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153"
		"w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk"
		"\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\""
		"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"}"
		",{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJs"
		"w1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vO"
		"y9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC"
		"\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5"
		"UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qM"
		"TBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P"
		"-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI1"
		"53w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZB"
		"k\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
		"\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg"
		"\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\""
		"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz"
		"5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":"
		"\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvglM7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6r"
		"CKV5UINwFmvF6wFFI153w7npci66Yg\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"3egv6Pt9gKz5vOy9GAb3zvgl"
		"M7qMTBbZeMt0hwLDZBk\",\"y\":\"qJsw1aLrHAd6rCKV5UINwFmvF6wFFI153w7npci66Yg\"}]}",
		1, 64, {"v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc", "v7UO1PljkoRRhDEcFVUf5IS6aQfvU7HwVXnQdmuFtZc"}},
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
		"aHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.azC3EHmm4Zi5b2iOjC1EHidecFkxfQTS9TM"
		"Mlh1p7eQl1tEFJ836VcTG7hgTlbcTaxMNUxsOye2EVpLA5IoJFw",
		1, "", "ec_p256", 1},
	{"rsa_2048_rs256",
		"eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoi"
		"aHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.0ohbzwl12_o8CZUch-2ac-BSzh8DAQ-fHc_"
		"DqVQAnJoVGy0koG82I1pCSQGmDiloVG_d9iVYY_DObHt0Y1zPxFWGqn25p40wpu56j35Se4Cx3bN37oLs6pPKg5cgWewjcEHRD33"
		"I6Z5Skx6y4C2bTDHN5D5-OESd83GxekTY29bxhAsGm0XLIHoGenHcKk5vqzW4KiVpGQIecy3E3alSPRtR8SN-wH0Lw0lvWoPQGy7"
		"ClnYgXZvXl9e_MCWeFeC-BGd5tywyh9C6gvbg_bj6fouluLqHkkCq62pMK7-LQuDRyJ6pOh3OzDU0kTI_0Je2d9h5HOmQkvylHym"
		"c3JslEg",
		1, "", "rsa_2048", 1},
	{"rsa_2048_ps256",
		"eyJhbGciOiJQUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoi"
		"aHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.jKby868wf6kEuhfH8A40eZE4eI5TSbc3iDM"
		"btk7kpbZx9eZrg-KuCuhEeKqTgEPDyvMbyfXqEDT2tXcnDJfwzHFd-f3nAYIs89wAiRw4cd9cu2WeAq9ESw0nfWbdwnuhGqW0NbW"
		"-gzSA2t__97faVY8X6MndBj2vOMdAePiW3b4r39UGTqL8-BxyN3V1V0TQcAaT23wS0upWshJ2_4SQwW2alK2PGaGC7B1IxylndEk"
		"qSdaXj9fAghKOiHAIPFMT0WBEZC60CQ-6640TIqts9BdkjVCFiZwtf9LVJm7qobkla697sXdFiY1hzNXBHugncS9Qj1uEhmbjgZL"
		"eZhOiDw",
		1, "", "rsa_2048", 1},
	{"rsa_3072_rs256_rs256",
		"eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoi"
		"aHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.TH6vkAwtDpB0DZ8uL36kbq7oPjk5hLyGi_x"
		"tZlXBvSXDEJMjFhwCXRxf-IXqUoOkyeufiFLpD8D2vB0VCwdOe16H9R1zLhCAxnzQSVqqLVGoV023nqBM3SZ_1zxCw6wS0D8sk9C"
		"GWEx393Myz7rXu4rgysKQOEtiLM9ApeOfAZSTzGBAblL5r_23ddCSREIRWDq9Q6chDy6RGyW4wBZ5ujmMo-4LsmdjAmNLuUj6-Mo"
		"rgI4Un44ooaUWu2lfz-Ve8SFI2-K1GsFFBcKx51PdkoTRC5emfdEZQcjEEV-JtgW7RwJuJws1-JwjKSmnmxSVL0X1QpP5WrktGOp"
		"SfAQTtrlDh1Nk3t1kcXxVU2c-84OFP-muLI_83p4cT7jL7xXmelAuK-h7M0zI97HJJ3a-i7SQ2Zs7hHxqwFGm2njgXRBlLSCXPyh"
		"KTSSx5kWQQhX3XgV_z29zvDXkbbbUOhOtbg-1j7pfZCpsUboiYgU64NGnAIfBcrWRdwOUPHf02Y0_",
		1, "", "rsa_3072_rs256", 1},
	{"rsa_4096_ps256_ps256",
		"eyJhbGciOiJQUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoi"
		"aHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.aDALOoyjC0YAWGx74pGbRoG1SEcpTONrJ9J"
		"pdWWRA0gTq1MkZRwV1BXN0t-O04Z50rnFfOAnAmADWt235CBjYFqmYxH9kcvKR33LCytXKaCLtZWJwb78zLpmxwv4fJ31VB5WpdP"
		"VdtPbio-DmXqfHCtDPu-XNOmSkTgUJ4kMgXXYC_7Eu5JR7T2etuNhpkzGILQfsBwaAvrIjGvcx1c9ZP-tKnFHDUvdg2tkkEto6Hi"
		"A8SMA89Ha4sASKpFAfOfGOImhNntie96E_O0RcD1yVwtDnhxpEUbCeAG1vvDppJQmbuNyOHI1osTHUwd3i5MMeOHdnzWvwH8hH0o"
		"sV-dHwdFNVES-wnn-9y8PKz-GLhbt4_wS8N35SDbH2M2VRZfIZQlZNc6wdeT_pbo5iRPD25AOAopO29_O8UG5yx8C5T25_M49mJV"
		"VurySANMPDPtjyNM-bfdgC6zRgSkkWIhIhH3brlfbPm0-kP9ANlsVEHJxISG-KZF95T38lkBwkFZG6-dFdgLVoRE1bgfmZWtGKYE"
		"o56jI-YVXnbOJKdI4qVEF11mCtA-P2r3PG_gX5iTFeku6SsrSCXjPb00PWSaxKs-FjXbNBkN9-vU268RrLEJd9DILNbQZ4pOFIzw"
		"iv1eBxtkfW1IVZXfyLQpOCSU1eKTygVUqwgRv2et7QGtxX9g",
		1, "", "rsa_4096_ps256", 1},
	{"ed25519_eddsa",
		"eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoi"
		"aHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.Vq-nAiFoJZmxOv8py08ygXSrhfGeOMBE3je"
		"GMCuofvU5AyZgS6Aul2WMTxKaV1B9xm_VzyoSsPY3PNtS0AKjDw",
		1, "", "ed25519", 1},
	{"rsa_e3_rs256",
		"eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoi"
		"aHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.Zu-6V6ulE80-4qpvI3qeiDehlkkseDfWcAw"
		"B6c_U7rfKLEvvbrtEpHuxPAZPbrgkh9r1WOj04eQEdgp7IZcYtKbL6bkPlB-kk0p9HTvUX8JTsEwI1RPIM8tMckZWCiZU866Xhcw"
		"vdKUdHmrUHi4bSSFf7tkHA4b2BjfOvfU__j0P5LFwtQRlWx6KW4cK0PlrKZ96vr8kPE-Accrdw2-tbmvLqIHvmfUT_vI0TItK-E0"
		"LVuqDv03PqjYts_tINVp3y3Y3npY8qwlQJ_AijQOh51R6ogTrSOc3iHMa9xIdjxhazKYDMzW5jElpvys2ztm6E2juwobon4iPTze"
		"HgoKsmQ",
		1, "", "rsa_e3", 1},
	{"es256_other_key",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.L6LWo6pxv2T_l0MJY3e4mhsl41vV1HT5"
		"Ps12ebimMAtCZgW3zegIR2ZJhxxiueEoFsd9JyMxlpZZ6lrM2PfWQw",
		1, "", "ec_p256_2", 0},
	{"eddsa_other_key",
		"eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.jxMH1gar9TohASsIV8PaoKpLGO9ouMWpzkpFvQbMip9geHlsNs"
		"4ZqVBQFbChw-dBQoAyefU1Tf_VODJQKd2WCA",
		1, "", "ed25519_2", 0},
	{"rs256_on_3072",
		"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.JzLDzne1uXO5zy7Vgi4pe6xpvcjjC5lwZUePQ0PpmmB9pxwpXu"
		"FWlbu1DMQnJ99IVB1HI49rVTCU2rC90b3ErvMPGqTjYHmmV3_L1b3P4UCGILnwAMph4KcbW2ufRtBRwd0Z6pdOjYxjbKule4TGqo"
		"yFP6HzNE322Rkd7EEYrJcj_7FSzo4Mvm_9Y1vMSjWeXnl53vXUjBL482OF_azPsNlWzA3v-CiU__r7AV84rtgdx_vzx1hjD4aTvZ"
		"NXhmpHRUDzAOibKEFalOLl8i6oH7OJtVaOS3bjMvlcbvF2jWUhVTlXcz7K5w_3sjJNUmaEkSYsPhEK9_9mYoKVROS6Gw",
		1, "", "rsa_3072_rs256", 0},
	{"rs256_on_ps256_key",
		"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.VbqOnn4hGGfIt1ePqiuy8ONzwHhihlKOGbmMs1-QeN3Jsp3fh_"
		"xe3OvmXZe9bwprlbEuiywEmxMRT_33KvI47AUhYtSpiOMOvuuuv3eyUWWSzA7u03IiG8WGUsShvYESQHhFkZUnBXAfxZn-5EvUrN"
		"AaQwi1VGUsZLPBQl40eDIOV_arsZtcQwFfzMafkYxl_ViwzBXzYchAQ1pXy7_ysgGRsAQ6y3Lbf6Xn6rtEscpi1Mri8ocgCzhsAn"
		"KrXjngvK7cIoQaXBYlU9sHkz0LbkcHO1H7Gaf7GIVTPoxO2u7pgecYSTd9mFcGTyL_EQOYvQfkwYFNtyZVQCHz3hHkCUPaXjkEp8"
		"zrrS8ID7hTczMWjha-tlCB03zUmIwJSieOD7eeebfNxon4g4oshbFyTmbsk25Q7s-n0W6XHlJSh1i6CdUvQXimxhjRn9ihubVwdA"
		"XxOjnqrcxpIxjQ0TJmeJE2QRwh0lageyLgzjDdZPwVdydXHHyneTu9R5EWp4fn3Jkh16UZCJX_jDAbduxv9WfcRR8nzjL-WcIh7f"
		"y4ZFUJLpOeoNgBWQ8rwrZjkGAX6PX0gkE7ZFn9bLME9mlp2ZBSpunT9N-BxnyVti1OEDGLD958bzFWh5oThALibhjR3kK1x4wJuz"
		"WJAfn6deqM8_iEm4X_hWfq6P15L2hhqgc",
		1, "", "rsa_4096_ps256", 0},
	{"ps256_on_rs256_key",
		"eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.sIzKV00SLG2RwfJkZPzxQIXIdr5gRlcytTkoqSBy1orp0_bltY"
		"XyId8M4tYqSffRU5ZaJHspNMNWAX5U1NA2DfYRevSuh9Kcxg4uAQ3knVCg_6RPL944q6KYKIcJp9_PVUz_b9pw9xHGox8_nAXvvT"
		"rHupqwvXkzZIVAzhJlbbPDst9UBvJCQViY7Uc-3anyHCC5rmm1Ecb42_1T6bRmtUVRzijtts95pqSOW-ITAwlX8e6fYsI5G1C_tQ"
		"6Og7hkJNuM9ja41ducreL77H2UcrG9_TYlDcRMFvrgjFiEdHaQHr8huyOM_qwD0P2J8WESVB5L2GO79Sx-pnI1Uinp1noAwCqOqt"
		"_wIDH8P93X8oH8f67ju-E6QdrCSMI4R3LtVhD3ywtfZNiaAqxwAfuDneU1e59-mNx6XY47AG2dBHKVqvRUo_h8s2CZpOQo5g9MRF"
		"nHXPp4r1crSPyV3-H33d0GT31lrsjktYAggGerv_FtYNrs6zGUYeT2z9yOtiKl",
		1, "", "rsa_3072_rs256", 0},
	{"es256_on_ed25519",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.L6LWo6pxv2T_l0MJY3e4mhsl41vV1HT5"
		"Ps12ebimMAtCZgW3zegIR2ZJhxxiueEoFsd9JyMxlpZZ6lrM2PfWQw",
		1, "", "ed25519", 0},
	{"eddsa_on_ec",
		"eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.jxMH1gar9TohASsIV8PaoKpLGO9ouMWpzkpFvQbMip9geHlsNs"
		"4ZqVBQFbChw-dBQoAyefU1Tf_VODJQKd2WCA",
		1, "", "ec_p256", 0},
	{"es256_flipped",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.L6LWo6pxv2T_lwMJY3e4mhsl41vV1HT5"
		"Ps12ebimMAtCZgW3zegIR2ZJhxxiueEoFsd9JyMxlpZZ6lrM2PfWQw",
		1, "", "ec_p256", 0},
	{"es256_sig_short",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.L6LWo6pxv2T_lwMJY3e4mhsl41vV1HT5"
		"Ps12ebimMAtCZgW3zegIR2ZJhxxiueEoFsd9JyMxlpZZ6lrM2PfW",
		1, "", "ec_p256", 0},
	{"es256_sig_long",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.L6LWo6pxv2T_lwMJY3e4mhsl41vV1HT5"
		"Ps12ebimMAtCZgW3zegIR2ZJhxxiueEoFsd9JyMxlpZZ6lrM2PfWQwA",
		1, "", "ec_p256", 0},
	{"es256_der_sig",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.MEUCIQDovmAoa9rZD6PhD6n-hvSa6u29"
		"OzD-Ok867waNem5VAwIgF5OWdCMtBDNyI5OJH8UuuNNdlowSIZwoDdytFdDP4ls",
		1, "", "ec_p256", 0},
	{"es256_raw_ok",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.pwx8K6Km8K_5x0F_1s8ORsbzAzqsX8FS"
		"ujTh0lesEBA1DETO28XAaUM1X_4ppJg4keQgTfw_S4uhfiXPvjOkCg",
		1, "", "ec_p256", 1},
	{"es256_high_s",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.pwx8K6Km8K_5x0F_1s8ORsbzAzqsX8FS"
		"ujTh0lesEBDK87swJDo_l7zKoAHWW2fHKwLaX6rYUvlSO6TzPi-BRw",
		1, "", "ec_p256", 1},
	{"rs256_swapped_payload",
		"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF95IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.JzLDzne1uXO5zy7Vgi4pe6xpvcjjC5lwZUePQ0PpmmB9pxwpXu"
		"FWlbu1DMQnJ99IVB1HI49rVTCU2rC90b3ErvMPGqTjYHmmV3_L1b3P4UCGILnwAMph4KcbW2ufRtBRwd0Z6pdOjYxjbKule4TGqo"
		"yFP6HzNE322Rkd7EEYrJcj_7FSzo4Mvm_9Y1vMSjWeXnl53vXUjBL482OF_azPsNlWzA3v-CiU__r7AV84rtgdx_vzx1hjD4aTvZ"
		"NXhmpHRUDzAOibKEFalOLl8i6oH7OJtVaOS3bjMvlcbvF2jWUhVTlXcz7K5w_3sjJNUmaEkSYsPhEK9_9mYoKVROS6Gw",
		1, "", "rsa_2048", 0},
	{"rs256_sig_truncated",
		"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.JzLDzne1uXO5zy7Vgi4pe6xpvcjjC5lwZUePQ0PpmmB9pxwpXu"
		"FWlbu1DMQnJ99IVB1HI49rVTCU2rC90b3ErvMPGqTjYHmmV3_L1b3P4UCGILnwAMph4KcbW2ufRtBRwd0Z6pdOjYxjbKule4TGqo"
		"yFP6HzNE322Rkd7EEYrJcj_7FSzo4Mvm_9Y1vMSjWeXnl53vXUjBL482OF_azPsNlWzA3v-CiU__r7AV84rtgdx_vzx1hjD4aTvZ"
		"NXhmpHRUDzAOibKEFalOLl8i6oH7OJtVaOS3bjMvlcbvF2jWUhVTlXcz7K5w_3sjJNUmaEkSYsPhEK9_9mYoKVRA",
		1, "", "rsa_2048", 0},
	{"rs256_sig_cut",
		"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.JzLDzne1uXO5zy7Vgi4pe6xpvcjjC5lwZUePQ0PpmmB9pxwpXu"
		"FWlbu1DMQnJ99IVB1HI49rVTCU2rC90b3ErvMPGqTjYHmmV3_L1b3P4UCGILnwAMph4KcbW2ufRtBRwd0Z6pdOjYxjbKule4TGqo"
		"yFP6HzNE322Rkd7EEYrJcj_7FSzo4Mvm_9Y1vMSjWeXnl53vXUjBL482OF_azPsNlWzA3v-CiU__r7AV84rtgdx_vzx1hjD4aTvZ"
		"NXhmpHRUDzAOibKEFalOLl8i6oH7OJtVaOS3bjMvlcbvF2jWUhVTlXcz7K5w_3sjJNUmaEkSYsPhEK9_9mYoKVR",
		0, "malformed", "rsa_2048", 0},
	{"ps256_max_salt",
		"eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.OR-fxwnVaMiSa4orXKj_HMnrxbPQP8WgjNcA168uOuxpJLTdle"
		"sDx6hD7NmUH7qin_-a1py5Pytq2fABUXpdHxAOi3GTk7WFJRtLPyNe3tlb7yWXW36kT1DDZ7-0jopdU8ExbbvZidRREfP50sfg5i"
		"DpawQJwtiDQ7ah10aWhaS3S9neuG5ptsfSmc96JVstU6Z7Zuh6b76oiL8q-K_r20QFJmzo1ei9kgY6fu8I2OrG8X2dRK4POIFoFw"
		"pbOcpoz2piHOHkpuyZhKOMadKuC22kPx7gXYSg7NxenoS18bYMp2Z58x4jJNOZpOTfDfN1CNmaEA2HRqPW1bGOIYyjQQ",
		1, "", "rsa_2048", 0},
	{"ps256_mgf1_sha1",
		"eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.boGxXSCPhO1Xsn_p_vJ2wAjjJJJcTC7pJX1g7U18NJ0nhspVf-"
		"j_NbL3euFcfvrdTbtDfEKt2fL-aUPKKs_lUKtmBnwE-PAMFB_UI7fG3E9UFziuTQ6GjctbFDoIfSYcp3ejj8idKgR-QfDU-nwMVI"
		"ewbrFdRvoJGIM3Y04c3eRrHfwdfAl6sgjuEIMxoLB6HT0PaVdq_hfuUz65JeuUHovlk02M0iiDqlaDBNw79l9bhplCjNb7Ic6R_K"
		"iWveMYc_0NU2pmM7GNtccpzqMxtRLGdv07CQOwz-zMBeDbBjYevPwU8EpCl1sg_LAI8aLceih5Kf7ww4i0MtsQKIgk8A",
		1, "", "rsa_2048", 0},
	{"es256_header_rsa_key",
		"eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXh"
		"wIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.XLJIz0DLfvP_n4UCcptiu53KDtr4aoLhudnk5oTtglmUY2Yhs2SzCzeeyZguP-UOu2"
		"KyT7zD5Vxcy6DbD3r50rdOlmyGWiAI2jl9B_1GGoSQ7ESax4p-8Md6aTnN2wuY72C8YAkTHbHgiWKH8rWaF0Y3SDcWt1Y2TMgNDe"
		"dkMr8-us6P54kvGYad-qo2Zz0jfi8FL7jl9l3pA1gLZdAKEb3eGcBrg8SUgdH3ibRuO3jiSNdkTEsvadAGrPBPC_hHJQqnK-9ViS"
		"bml6wMiKwSygPVY2Bt58Nwbw_o_NwaNPlfF5LjQDBeMBjlwPQKhBYo3aGE_2GbQ_I7u9BCj00y8w",
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
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.ySvoYvgJZOsdKjnY2JJRXphqLCl9PAF0lQw-C9Fy4dg",
		0, "bad_alg", "rsa_2048", 0},
	{"hs256_public_jwk",
		"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.VOgiYNHsZEOZt876FwtgN9seIhibyHF8nhxd2ZXect4",
		0, "bad_alg", "rsa_2048", 0},
	{"es384",
		"eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5"
		"leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.uLOnCT3_iUGn3onMEyxAwumwy0l-N3uJTpeqZa35jZhJl-uaiw"
		"i2SKiRYMckHe_pndrpzf-R07ZkQmfzCZwLEUoMvin7Jctw81VBbeDPWVQIReZbpDWas8QYbn6fdnFv",
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
		"dF94IiwiYXVkIjoiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.a7tCGO5-_sZJRN4C3kP"
		"qDCavB6JL6IBpzWBlrRnAWhD_zJey47g3TW_eahh02RTAFXRkDq5LrZkFcoMcZWx2XA",
		0, "crit", "ec_p256", 0},
	{"b64_false",
		"eyJhbGciOiJFUzI1NiIsImI2NCI6ZmFsc2UsImNyaXQiOlsiYjY0Il0sInR5cCI6IkpXVCJ9..PyaWHte8uuYMcjBcb0JlFgykwI"
		"kRa9APo-0nGx4UEczo7MvjU6wN-VmGYX4gkG1p0V2ExtH-WdBFKRfvLEvWvQ",
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
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.L6LWo6pxv2T_l0MJY3e4mhsl41vV1HT5"
		"Ps12ebimMAtCZgW3zegIR2ZJhxxiueEoFsd9JyMxlpZZ6lrM2PfWQw.AAAA",
		0, "malformed", "ec_p256", 0},
	{"extra_dot",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.L6LWo6pxv2T_l0MJY3e4mhsl41vV1HT5"
		"Ps12ebimMAtCZgW3zegIR2ZJhxxiueEoFsd9JyMxlpZZ6lrM2PfWQw.",
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
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ..L6LWo6pxv2T_l0MJY3e4mhsl41vV1HT5Ps12ebimMAtC"
		"ZgW3zegIR2ZJhxxiueEoFsd9JyMxlpZZ6lrM2PfWQw",
		0, "malformed", "ec_p256", 0},
	{"padded_header",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ=.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVk"
		"IjoiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.L6LWo6pxv2T_l0MJY3e4mhsl41vV1HT"
		"5Ps12ebimMAtCZgW3zegIR2ZJhxxiueEoFsd9JyMxlpZZ6lrM2PfWQw",
		0, "malformed", "ec_p256", 0},
	{"padded_sig",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.L6LWo6pxv2T_l0MJY3e4mhsl41vV1HT5"
		"Ps12ebimMAtCZgW3zegIR2ZJhxxiueEoFsd9JyMxlpZZ6lrM2PfWQw==",
		0, "malformed", "ec_p256", 0},
	{"std_b64_sig",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9.L6LWo6pxv2T/l0MJY3e4mhsl41vV1HT5"
		"Ps12ebimMAtCZgW3zegIR2ZJhxxiueEoFsd9JyMxlpZZ6lrM2PfWQw",
		0, "malformed", "ec_p256", 0},
	{"whitespace",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJhZ3RfeCIsInN1YiI6ImFndF94IiwiYXVkI"
		"joiaHR0cHM6Ly9hcy5leGFtcGxlIiwiZXhwIjoxNzkwMDAwMDYwLCJqdGkiOiJqMSJ9 .L6LWo6pxv2T_l0MJY3e4mhsl41vV1HT"
		"5Ps12ebimMAtCZgW3zegIR2ZJhxxiueEoFsd9JyMxlpZZ6lrM2PfWQw",
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
		"eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJhIjpbW1tbW1tbW1tbW1tbWzFdXV1dXV1dXV1dXV1dXX0.Cgv-h_vNkc6Rcpv"
		"8v9VNn8V-mRke_9LNPEOw7NMWfnXjDBdw8QrbqNJonjFIN8T5gLThbWwdJ-rmXZO4l3oB5w",
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
		"4eHh4eHh4eHh4eHh4eHh4eHh4In0.DNOvzmxzU7UhZmgHIOA4tZXZsXSENPX5VS-3sZq56QZzM1y0g2gNjdgE6guT5NWbEuxBn9q"
		"2ueLV6-EooZjhHw",
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
		"4eHh4eHh4eHh4eHh4eHh4eHh4In0.-ARrgnnfVhjBAx31KrRVxqAbppqJDj50vCSNnSZ_QN0PxC1RANY9n2dAsVCmPDd1ydJl97J"
		"YawyT6AaCv7ZJzA",
		1, "", "ec_p256", 1},
	{"dpop_proof",
		"eyJhbGciOiJFUzI1NiIsImp3ayI6eyJjcnYiOiJQLTI1NiIsImt0eSI6IkVDIiwieCI6IjNlZ3Y2UHQ5Z0t6NXZPeTlHQWIzenZn"
		"bE03cU1UQmJaZU10MGh3TERaQmsiLCJ5IjoicUpzdzFhTHJIQWQ2ckNLVjVVSU53Rm12RjZ3RkZJMTUzdzducGNpNjZZZyJ9LCJ0"
		"eXAiOiJkcG9wK2p3dCJ9.eyJodG0iOiJQT1NUIiwiaHR1IjoiaHR0cHM6Ly9hcy5leGFtcGxlL3Rva2VuIiwiaWF0IjoxNzkwMDA"
		"wMDAwLCJqdGkiOiJwMSJ9.eOjPcEuOv3rgUGoNtiUkFGBs6wmW2W0uww5BbF2Pw-MVq4Unl7Nd1KCHLk2nq1keguo_VKpKA0dqHL"
		"76AMXYBw",
		1, "", "ec_p256", 1},
};

#endif
