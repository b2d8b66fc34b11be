// The throwaway certificates of the test servers, made with openssl.
#pragma once

#include <string>
#include <vector>

namespace imwatch::test {

enum class CertSet {
  server_only,   // ca.pem and good.{pem,key}: what a server needs
  tls_variants,  // also other_ca.pem and the wrong_name, self_signed and expired certificates
};

// Writes the extension and `openssl ca` files into `certs_dir` (which must
// exist) and returns the openssl command lines (argv, no shell) that make
// the certificates there, to be run in order by the caller's own runner.
// Every leaf is for test.local (SANs test.local, *.test.local, localhost,
// IP 127.0.0.1) except wrong_name (other.example only); keys are EC P-256,
// generated in milliseconds, unlike RSA; everything is valid for two days
// except expired (2023 only).
std::vector<std::vector<std::string>> test_certificate_commands(const std::string& certs_dir, CertSet set);

}  // namespace imwatch::test
