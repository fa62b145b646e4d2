// Owning pointers to OpenSSL objects: each frees its object with OpenSSL's own free function
// when it goes out of scope, so that no error path leaks a key, a context or a number.
//
// Thread safety: as std::unique_ptr (one owner; the objects themselves are not shared).
#pragma once

#include <memory>

#include <openssl/bn.h>
#include <openssl/evp.h>

namespace cairn::crypto {

template <typename T, void (*Free)(T*)>
struct OpensslFree {
  void operator()(T* p) const { Free(p); }
};

template <typename T, void (*Free)(T*)>
using OpensslPtr = std::unique_ptr<T, OpensslFree<T, Free>>;

using PkeyPtr = OpensslPtr<EVP_PKEY, EVP_PKEY_free>;
using MdCtxPtr = OpensslPtr<EVP_MD_CTX, EVP_MD_CTX_free>;
using BnPtr = OpensslPtr<BIGNUM, BN_free>;

}  // namespace cairn::crypto
