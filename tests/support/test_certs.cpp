#include "tests/support/test_certs.h"

#include <fstream>

namespace imwatch::test {

std::vector<std::vector<std::string>> test_certificate_commands(const std::string& certs_dir, CertSet set) {
  const std::string c = certs_dir + "/";
  const std::string openssl = "/usr/bin/openssl";
  auto req = [&](std::vector<std::string> argv) {
    std::vector<std::string> full = {openssl, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"};
    full.insert(full.end(), argv.begin(), argv.end());
    return full;
  };
  auto ca = [&](const std::string& name, const std::string& cn) {
    return req({"-x509", "-keyout", c + name + ".key", "-out", c + name + ".pem", "-days", "2", "-subj", "/CN=" + cn,
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"});
  };
  auto sign = [&](const std::string& name, const std::string& ext, const std::string& serial) {
    return std::vector<std::string>{
        openssl,       "x509", "-req",  "-in", c + name + ".csr", "-CA",   c + "ca.pem", "-CAkey",         c + "ca.key",
        "-set_serial", serial, "-days", "2",   "-extfile",        c + ext, "-out",       c + name + ".pem"};
  };
  auto csr = [&](const std::string& name, const std::string& cn) {
    return req({"-keyout", c + name + ".key", "-out", c + name + ".csr", "-subj", "/CN=" + cn});
  };

  const std::string san_test = "subjectAltName=DNS:test.local,DNS:*.test.local,DNS:localhost,IP:127.0.0.1";
  const std::string leaf_ext =
      "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
      "extendedKeyUsage=serverAuth\n";
  std::ofstream(c + "test.ext") << san_test << "\n" << leaf_ext;

  std::vector<std::vector<std::string>> steps = {
      ca("ca", "imwatch throwaway test CA"),
      csr("good", "test.local"),
      sign("good", "test.ext", "2"),
  };
  if (set == CertSet::server_only) return steps;

  std::ofstream(c + "other.ext") << "subjectAltName=DNS:other.example\n" << leaf_ext;
  // Minimal `openssl ca` setup: only `openssl ca` can set a start date in
  // the past (OpenSSL 3.0's `x509 -req` has no -not_before).
  std::ofstream(c + "index.txt");
  std::ofstream(c + "ca.cnf") << "[ca]\ndefault_ca = test_ca\n[test_ca]\n"
                              << "database = " << c << "index.txt\n"
                              << "new_certs_dir = " << c << "\n"
                              << "default_md = sha256\npolicy = any\nunique_subject = no\n"
                              << "rand_serial = yes\n[any]\ncommonName = supplied\n";
  const std::vector<std::vector<std::string>> variants = {
      // An unrelated CA that signs nothing the server presents.
      ca("other_ca", "imwatch unrelated test CA"),
      // wrong_name: other.example signed by the CA.
      csr("wrong_name", "other.example"),
      sign("wrong_name", "other.ext", "3"),
      // self_signed: test.local with the right names, but no CA.
      req({"-x509", "-keyout", c + "self_signed.key", "-out", c + "self_signed.pem", "-days", "2", "-subj",
           "/CN=test.local", "-addext", san_test}),
      // expired: test.local signed by the CA, valid during 2023 only.
      csr("expired", "test.local"),
      {openssl,      "ca",
       "-batch",     "-notext",
       "-config",    c + "ca.cnf",
       "-cert",      c + "ca.pem",
       "-keyfile",   c + "ca.key",
       "-in",        c + "expired.csr",
       "-out",       c + "expired.pem",
       "-startdate", "20230101000000Z",
       "-enddate",   "20240101000000Z",
       "-extfile",   c + "test.ext"},
  };
  steps.insert(steps.end(), variants.begin(), variants.end());
  return steps;
}

}  // namespace imwatch::test
