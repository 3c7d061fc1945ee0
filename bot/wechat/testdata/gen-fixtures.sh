#!/bin/sh
# Regenerates bot/wechat/testdata with openssl and coreutils only: no Go, so
# the fixtures are independent of cxbot's, the SDK's and wechattest's code.
# See README.md. Needs: openssl, base64, xxd, sha1sum, sort, od.
set -eu
cd "$(dirname "$0")"
export LC_ALL=C # byte order for sort, byte counts for wc

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# key_hex EncodingAESKey: the 32-byte AES key in hex (base64 of key + "=").
key_hex() { printf '%s=' "$1" | base64 -d | xxd -p -c 64; }

# sig part...: sha1 of the parts sorted and joined, as WeChat signs.
sig() { printf '%s\n' "$@" | sort | tr -d '\n' | sha1sum | cut -d' ' -f1; }

# --- 1. cxbot's own fixtures: encrypt aes/<name>.xml ------------------------
. ./aes/params.env
key=$(key_hex "$AESKEY")
iv=$(printf '%s' "$key" | cut -c1-32)
signature=$(sig "$TOKEN" "$TIMESTAMP" "$NONCE")

for src in aes/*.xml; do
	case $src in *.safe.xml | *.compat.xml) continue ;; esac
	name=${src%.xml}
	xml=$(cat "$src") # without a trailing newline
	openid=$(printf '%s' "$xml" | sed -n 's/.*<FromUserName><!\[CDATA\[\([^]]*\)]]><\/FromUserName>.*/\1/p')
	len=$(printf '%s' "$xml" | wc -c)

	# random(16) | msg_len (4 bytes, big-endian) | msg | appid | PKCS#7 to 32 bytes
	{
		printf '%s' "$RANDOM16"
		printf '%08x' "$len" | xxd -r -p
		printf '%s' "$xml"
		printf '%s' "$APPID"
	} >"$tmp/plain"
	size=$(wc -c <"$tmp/plain")
	pad=$((32 - size % 32))
	i=0
	while [ "$i" -lt "$pad" ]; do
		printf "\\$(printf '%03o' "$pad")"
		i=$((i + 1))
	done >>"$tmp/plain"

	encrypt=$(openssl enc -aes-256-cbc -K "$key" -iv "$iv" -nopad -in "$tmp/plain" | base64 -w0)
	msg_signature=$(sig "$TOKEN" "$TIMESTAMP" "$NONCE" "$encrypt")

	printf '%s\n' "$encrypt" >"$name.encrypt"
	printf 'signature=%s&timestamp=%s&nonce=%s&openid=%s\n' \
		"$signature" "$TIMESTAMP" "$NONCE" "$openid" >"$name.plain.query"
	printf 'signature=%s&timestamp=%s&nonce=%s&openid=%s&encrypt_type=aes&msg_signature=%s\n' \
		"$signature" "$TIMESTAMP" "$NONCE" "$openid" "$msg_signature" >"$name.aes.query"
	printf '<xml><ToUserName><![CDATA[%s]]></ToUserName><Encrypt><![CDATA[%s]]></Encrypt></xml>\n' \
		"$ACCOUNT" "$encrypt" >"$name.safe.xml"
	printf '%s<Encrypt><![CDATA[%s]]></Encrypt></xml>\n' "${xml%</xml>}" "$encrypt" >"$name.compat.xml"
	echo "wrote $name: $len-byte message, $pad bytes of padding"
done

# --- 2. WeChat's published sample: decrypt it and check its signature -------
. ./published/params.env
key=$(key_hex "$AESKEY")
iv=$(printf '%s' "$key" | cut -c1-32)
encrypt=$(sed -n 's/.*<Encrypt><!\[CDATA\[\([^]]*\)]]><\/Encrypt>.*/\1/p' published/request.xml)
got=$(sig "$TOKEN" "$TIMESTAMP" "$NONCE" "$encrypt")
if [ "$got" != "$MSG_SIGNATURE" ]; then
	echo "published sample: msg_signature $got, WeChat published $MSG_SIGNATURE" >&2
	exit 1
fi
printf '%s' "$encrypt" | base64 -d | openssl enc -d -aes-256-cbc -K "$key" -iv "$iv" -nopad >"$tmp/plain"
size=$(wc -c <"$tmp/plain")
pad=$(tail -c 1 "$tmp/plain" | od -An -tu1 | tr -d ' ')
len=$(dd if="$tmp/plain" bs=1 skip=16 count=4 2>/dev/null | od -An -tx1 | tr -d ' \n')
len=$((0x$len))
dd if="$tmp/plain" bs=1 skip=20 count="$len" 2>/dev/null >published/message.xml
dd if="$tmp/plain" bs=1 skip=$((20 + len)) count=$((size - 20 - len - pad)) 2>/dev/null >published/appid.txt
echo "published sample: msg_signature checks; $len-byte message for $(cat published/appid.txt), $pad bytes of padding"
