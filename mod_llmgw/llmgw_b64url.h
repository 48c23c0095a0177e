/* llmgw_b64url.h — strict base64url (RFC 4648 §5 without padding, as JOSE uses it).
 * Strict means one text per byte string: no padding, no whitespace, no characters from
 * the other alphabet, and the unused low bits of the last character must be zero, so
 * a token cannot be re-encoded into a different string with the same meaning.
 * Part of the httpd-free core library (libllmgw). */
#ifndef LLMGW_B64URL_H
#define LLMGW_B64URL_H

#include <stddef.h>

/* Bytes that decoding n characters yields (n must be valid: n % 4 != 1). */
#define LLMGW_B64URL_DECODED_LEN(n) ((n) / 4 * 3 + ((n) % 4 ? (n) % 4 - 1 : 0))

/* Decodes n characters of in into out (room for LLMGW_B64URL_DECODED_LEN(n) bytes).
 * Returns the decoded length, or -1 if the text is not canonical base64url. */
long llmgw_b64url_decode(const char *in, size_t n, unsigned char *out);

/* Decodes n characters into a new malloc'd, NUL-terminated buffer the caller frees;
 * NULL when empty, not canonical base64url, or decoding to more than max bytes. */
unsigned char *llmgw_b64url_decode_dup(const char *in, size_t n, size_t max, size_t *out_len);

/* True when every one of the n characters is in the base64url alphabet. */
int llmgw_b64url_charset(const char *in, size_t n);

#endif
