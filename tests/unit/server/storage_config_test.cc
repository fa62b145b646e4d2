// The [storage] section: parsing, environment overrides, the engine options it yields, and the
// ValidateForServe refusals (no DSN, a password in the DSN, plaintext off loopback, a password
// file others can read).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "server/config.h"
#include "test_util.h"

namespace cairn::server {
namespace CAIRN_UNITY_ID {

TEST(StorageConfigTest, ParsesPostgresSettingsIntoEngineOptions) {
  auto c = ParseConfig(
      "[storage]\nbackend = \"postgres\"\npostgres_dsn = \"host=db.internal dbname=cairn\"\n"
      "postgres_sslmode = \"verify-full\"\npostgres_password_file = \"pg.pass\"\n"
      "postgres_pool_connections_max = 32\n",
      "/etc/cairn");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  std::optional<storage::PgOptions> o = PostgresOptions(c->storage);
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->conninfo, "host=db.internal dbname=cairn");
  EXPECT_EQ(o->sslmode, "verify-full");
  EXPECT_EQ(o->password_file, "/etc/cairn/pg.pass");
  EXPECT_EQ(o->pool_connections_max, 32u);
  EXPECT_TRUE(o->optimistic_commits);  // the default
  EXPECT_FALSE(PostgresOptions(DefaultConfig().storage).has_value());  // rocksdb by default
  auto lock_first = ParseConfig(
      "[storage]\nbackend = \"postgres\"\npostgres_dsn = \"host=db\"\npostgres_optimistic_commits = false\n", "/");
  ASSERT_TRUE(lock_first.ok()) << lock_first.status().ToString();
  EXPECT_FALSE(PostgresOptions(lock_first->storage)->optimistic_commits);
  EXPECT_FALSE(ParseConfig("[storage]\npostgres_optimistic_commits = \"no\"\n", "/").ok());
}

TEST(StorageConfigTest, RefusesUnknownBackendsKeysAndPoolSizes) {
  EXPECT_FALSE(ParseConfig("[storage]\nbackend = \"mysql\"\n", "/").ok());
  EXPECT_FALSE(ParseConfig("[storage]\npostgres_pool = 3\n", "/").ok());
  EXPECT_FALSE(ParseConfig("[storage]\npostgres_pool_connections_max = 1\n", "/").ok());
  EXPECT_FALSE(ParseConfig("[storage]\npostgres_pool_connections_max = 100000\n", "/").ok());
  EXPECT_FALSE(ParseConfig("[storage]\npostgres_sslmode = \"maybe\"\n", "/").ok());
}

TEST(StorageConfigTest, EnvironmentOverrides) {
  Config c = DefaultConfig();
  auto env = [](const char* n) -> const char* {
    const std::string name(n);
    if (name == "CAIRN_STORAGE_BACKEND") return "postgres";
    if (name == "CAIRN_POSTGRES_DSN") return "host=127.0.0.1 dbname=cairn";
    if (name == "CAIRN_POSTGRES_PASSWORD_FILE") return "/run/secrets/pg";
    return nullptr;
  };
  ASSERT_TRUE(ApplyEnvOverrides(&c, env).ok());
  EXPECT_EQ(c.storage.backend, "postgres");
  EXPECT_EQ(c.storage.postgres_dsn, "host=127.0.0.1 dbname=cairn");
  EXPECT_EQ(c.storage.postgres_password_file, "/run/secrets/pg");
  auto bad = [](const char* n) -> const char* {
    return std::string(n) == "CAIRN_STORAGE_BACKEND" ? "sqlite" : nullptr;
  };
  EXPECT_EQ(ApplyEnvOverrides(&c, bad).code(), StatusCode::kInvalidArgument);
}

StorageSection Postgres(std::string dsn, std::string sslmode = "") {
  StorageSection s;
  s.backend = "postgres";
  s.postgres_dsn = std::move(dsn);
  s.postgres_sslmode = std::move(sslmode);
  return s;
}

void ExpectRefused(const StorageSection& s, const std::string& needle) {
  Status st = ValidateStorage(s);
  ASSERT_FALSE(st.ok()) << needle;
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find(needle), std::string::npos) << st.message();
}

TEST(StorageConfigTest, ServeRefusesMissingDsnPasswordsAndPlaintextOffLoopback) {
  EXPECT_TRUE(ValidateStorage(DefaultConfig().storage).ok());
  ExpectRefused(Postgres(""), "needs storage.postgres_dsn");
  const Status with_password = ValidateStorage(Postgres("host=127.0.0.1 password=hunter2"));
  ASSERT_FALSE(with_password.ok());
  EXPECT_EQ(with_password.message().find("hunter2"), std::string::npos);  // never echoed
  ExpectRefused(Postgres("postgresql://cairn:s3cret@127.0.0.1/cairn"), "contains a password");
  // The client key's passphrase is a secret too (`cairn migrate` prints the DSN it was given).
  const Status with_sslpassword = ValidateStorage(
      Postgres("host=127.0.0.1 sslcert=c.crt sslkey=c.key sslpassword=S3cretPass"));
  ASSERT_FALSE(with_sslpassword.ok());
  EXPECT_NE(with_sslpassword.message().find("contains a password"), std::string::npos);
  EXPECT_EQ(with_sslpassword.message().find("S3cretPass"), std::string::npos);
  // Off loopback TLS is required; a Unix socket or loopback may go without.
  ExpectRefused(Postgres("host=db.internal dbname=cairn"), "without TLS");
  ExpectRefused(Postgres("host=db.internal dbname=cairn", "prefer"), "without TLS");
  ExpectRefused(Postgres("postgresql://db.internal/cairn?sslmode=disable"), "without TLS");
  EXPECT_TRUE(ValidateStorage(Postgres("host=db.internal dbname=cairn", "verify-full")).ok());
  EXPECT_TRUE(ValidateStorage(Postgres("host=db.internal dbname=cairn sslmode=require")).ok());
  EXPECT_TRUE(ValidateStorage(Postgres("host=127.0.0.1 dbname=cairn")).ok());
  EXPECT_TRUE(ValidateStorage(Postgres("host=/var/run/postgresql dbname=cairn")).ok());
  // Judged as libpq reads it: percent-encoded URI parameter names are still a host and a
  // password (libpq decodes them), and what libpq cannot parse is refused.
  ExpectRefused(Postgres("postgresql://u@localhost/c?h%6fst=db.example.com"), "without TLS");
  const Status encoded = ValidateStorage(Postgres("postgresql://u@127.0.0.1/c?pass%77ord=hunter2"));
  ASSERT_FALSE(encoded.ok());
  EXPECT_NE(encoded.message().find("contains a password"), std::string::npos) << encoded.message();
  EXPECT_EQ(encoded.message().find("hunter2"), std::string::npos);
  ExpectRefused(Postgres("host='unterminated"), "not a libpq connection string");
  ExpectRefused(Postgres("host=127.0.0.1 " + std::string(5000, 'x') + "=1"), "at most 4096 bytes");
}

TEST(StorageConfigTest, ServeRefusesAPasswordFileOthersCanRead) {
  testing::TempDir tmp;
  const std::string file = tmp.Sub("pg.pass");
  testing::WriteFile(file, "secret\n");
  StorageSection s = Postgres("host=127.0.0.1 dbname=cairn");
  s.postgres_password_file = file;
  ASSERT_EQ(::chmod(file.c_str(), 0644), 0);
  ExpectRefused(s, "chmod");
  ASSERT_EQ(::chmod(file.c_str(), 0600), 0);
  EXPECT_TRUE(ValidateStorage(s).ok()) << ValidateStorage(s).ToString();
}

}  // namespace
}  // namespace cairn::server
