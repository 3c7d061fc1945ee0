package wechattest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// The message crypto of WeChat's "safe mode", written from WeChat's
// documentation (消息加解密说明) without cxbot's or the SDK's code, so that
// tests which decrypt the fake's messages with the SDK compare two
// implementations. Summary of the scheme:
//
//   - signature     = hex(sha1(join(sort(token, timestamp, nonce))))
//   - msg_signature = hex(sha1(join(sort(token, timestamp, nonce, Encrypt))))
//   - AESKey = base64decode(EncodingAESKey + "="), 32 bytes; IV = AESKey[:16]
//   - Encrypt = base64(AES-256-CBC(random(16) ‖ uint32be(len(msg)) ‖ msg ‖ appid ‖ pad))
//     where pad is PKCS#7 to a multiple of 32 bytes (1 to 32 bytes of value n).

// Signature is WeChat's request signature: the SHA-1, in lowercase hex, of
// the parts sorted as byte strings and joined without separator. With
// (token, timestamp, nonce) it is the signature query parameter; adding the
// Encrypt element gives msg_signature.
func Signature(parts ...string) string {
	sorted := append([]string(nil), parts...)
	sort.Strings(sorted)
	sum := sha1.Sum([]byte(strings.Join(sorted, "")))
	return hex.EncodeToString(sum[:])
}

// aesBlock is the PKCS#7 block size WeChat pads to: 32 bytes, not AES's 16.
const aesBlock = 32

// AESKey decodes a 43-character EncodingAESKey into the 32-byte AES key.
func AESKey(encodingAESKey string) ([]byte, error) {
	if len(encodingAESKey) != 43 {
		return nil, fmt.Errorf("wechattest: EncodingAESKey must be 43 characters, got %d", len(encodingAESKey))
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil {
		return nil, fmt.Errorf("wechattest: EncodingAESKey is not base64: %w", err)
	}
	return key, nil // 43 base64 characters and "=" are always 32 bytes
}

// Encrypt seals msg for appID the way WeChat fills the Encrypt element.
// random must be 16 bytes (WeChat picks them at random; fixtures fix them).
func Encrypt(encodingAESKey, appID string, random, msg []byte) (string, error) {
	key, err := AESKey(encodingAESKey)
	if err != nil {
		return "", err
	}
	if len(random) != 16 {
		return "", fmt.Errorf("wechattest: random prefix must be 16 bytes, got %d", len(random))
	}
	plain := make([]byte, 0, 20+len(msg)+len(appID)+aesBlock)
	plain = append(plain, random...)
	plain = binary.BigEndian.AppendUint32(plain, uint32(len(msg)))
	plain = append(plain, msg...)
	plain = append(plain, appID...)
	pad := aesBlock - len(plain)%aesBlock // 1…32: a full block when already aligned
	for range pad {
		plain = append(plain, byte(pad))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(plain, plain)
	return base64.StdEncoding.EncodeToString(plain), nil
}

// Decrypt opens an Encrypt element, returning the message, the app id it
// was sealed for, and the random prefix. It checks the padding strictly.
func Decrypt(encodingAESKey, encrypted string) (msg []byte, appID string, random []byte, err error) {
	key, err := AESKey(encodingAESKey)
	if err != nil {
		return nil, "", nil, err
	}
	data, err := base64.StdEncoding.DecodeString(encrypted)
	if err != nil {
		return nil, "", nil, fmt.Errorf("wechattest: Encrypt is not base64: %w", err)
	}
	if len(data) == 0 || len(data)%aes.BlockSize != 0 {
		return nil, "", nil, fmt.Errorf("wechattest: ciphertext of %d bytes is not whole AES blocks", len(data))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, "", nil, err
	}
	plain := make([]byte, len(data))
	cipher.NewCBCDecrypter(block, key[:16]).CryptBlocks(plain, data)

	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > aesBlock || pad > len(plain) {
		return nil, "", nil, errors.New("wechattest: bad padding")
	}
	for _, b := range plain[len(plain)-pad:] {
		if int(b) != pad {
			return nil, "", nil, errors.New("wechattest: bad padding")
		}
	}
	plain = plain[:len(plain)-pad]
	if len(plain) < 20 {
		return nil, "", nil, errors.New("wechattest: plaintext shorter than its header")
	}
	n := binary.BigEndian.Uint32(plain[16:20])
	if uint64(n) > uint64(len(plain)-20) {
		return nil, "", nil, fmt.Errorf("wechattest: message length %d exceeds the plaintext", n)
	}
	return plain[20 : 20+n], string(plain[20+n:]), plain[:16], nil
}
