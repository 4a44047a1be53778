package wxevent

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
)

// WeChat's safe mode: AES-256-CBC with the key's first 16 bytes as IV, PKCS#7
// padding to 32-byte blocks, over random(16) ‖ length(4, big-endian) ‖
// message ‖ appid.

func (v *Verifier) decrypt(encrypt string) ([]byte, error) {
	data, err := base64.StdEncoding.DecodeString(encrypt)
	if err != nil || len(data) == 0 || len(data)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: Encrypt is not base64 AES blocks", ErrBody)
	}
	block, _ := aes.NewCipher(v.key)
	plain := make([]byte, len(data))
	cipher.NewCBCDecrypter(block, v.key[:aes.BlockSize]).CryptBlocks(plain, data)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > 32 || pad > len(plain) {
		return nil, fmt.Errorf("%w: bad padding", ErrBody)
	}
	plain = plain[:len(plain)-pad]
	if len(plain) < 20 {
		return nil, fmt.Errorf("%w: decrypted body too short", ErrBody)
	}
	n := int(binary.BigEndian.Uint32(plain[16:20]))
	if n < 0 || 20+n > len(plain) {
		return nil, fmt.Errorf("%w: bad message length", ErrBody)
	}
	msg, appID := plain[20:20+n], string(plain[20+n:])
	if v.appID != "" && appID != v.appID {
		return nil, fmt.Errorf("%w: encrypted for another appid", ErrBody)
	}
	return msg, nil
}

// Encrypt is safe mode's encryption, for the sandbox and tests that push as
// WeChat does.
func (v *Verifier) Encrypt(msg []byte) (string, error) {
	if v.key == nil {
		return "", fmt.Errorf("wxevent: no EncodingAESKey")
	}
	var buf bytes.Buffer
	random := make([]byte, 16)
	_, _ = rand.Read(random)
	buf.Write(random)
	_ = binary.Write(&buf, binary.BigEndian, uint32(len(msg)))
	buf.Write(msg)
	buf.WriteString(v.appID)
	pad := 32 - buf.Len()%32
	buf.Write(bytes.Repeat([]byte{byte(pad)}, pad))
	block, _ := aes.NewCipher(v.key)
	out := make([]byte, buf.Len())
	cipher.NewCBCEncrypter(block, v.key[:aes.BlockSize]).CryptBlocks(out, buf.Bytes())
	return base64.StdEncoding.EncodeToString(out), nil
}
