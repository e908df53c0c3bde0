// `causeway user ...` below the binary: RunUserCommand against a scratch state directory and the
// password reader for --password-stdin.

#include "gateway/user_cli.h"

#include <unistd.h>

#include <string>

#include "gateway/sqlite_directory.h"
#include "gtest/gtest.h"
#include "tests/gateway/test_util.h"

namespace causeway::gateway {
namespace {

using testing::ScratchDir;

UserCommand Command(UserVerb verb, std::string uri = "") {
  UserCommand command;
  command.verb = verb;
  command.uri = std::move(uri);
  return command;
}

PasswordReader NoStdin() {
  return []() -> absl::StatusOr<std::string> {
    ADD_FAILURE() << "standard input read without --password-stdin";
    return absl::InternalError("unexpected");
  };
}

TEST(UserCli, AddListPasswdDel) {
  ScratchDir dir;
  UserCommand add = Command(UserVerb::kAdd, "sip:Alice@Example.Test");
  add.password = "Password";
  add.display_name = "Alice Liddell";
  add.phones = {"+15551230001", "+15551230002"};
  absl::StatusOr<std::string> out = RunUserCommand(add, dir.path(), NoStdin());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "added sip:alice@example.test\n");

  UserCommand add_bob = Command(UserVerb::kAdd, "sip:bob@other.org");
  add_bob.password_stdin = true;
  int reads = 0;
  out = RunUserCommand(add_bob, dir.path(), [&]() -> absl::StatusOr<std::string> {
    ++reads;
    return std::string("from stdin");
  });
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(reads, 1);

  out = RunUserCommand(Command(UserVerb::kList), dir.path(), NoStdin());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out,
            "sip:alice@example.test\tAlice Liddell\t+15551230001,+15551230002\tenabled\n"
            "sip:bob@other.org\t-\t-\tenabled\n");

  // The stdin password is the one stored: HA1 = MD5("bob:other.org:from stdin").
  {
    absl::StatusOr<std::unique_ptr<SqliteDirectory>> db = SqliteDirectory::Open(dir.path());
    ASSERT_TRUE(db.ok());
    UserRef bob = (*db)->FindByUri("sip:bob@other.org");
    ASSERT_NE(bob, nullptr);
    EXPECT_EQ(bob->ha1_md5, "77f45afd3165e108c520243862add458");
  }

  out = RunUserCommand(Command(UserVerb::kDisable, "sip:bob@other.org"), dir.path(), NoStdin());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "disabled sip:bob@other.org\n");
  out = RunUserCommand(Command(UserVerb::kList), dir.path(), NoStdin());
  ASSERT_TRUE(out.ok());
  EXPECT_NE(out->find("sip:bob@other.org\t-\t-\tdisabled\n"), std::string::npos) << *out;

  UserCommand passwd = Command(UserVerb::kPasswd, "sip:alice@example.test");
  passwd.password = "Another one";
  out = RunUserCommand(passwd, dir.path(), NoStdin());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "password changed for sip:alice@example.test\n");

  out = RunUserCommand(Command(UserVerb::kDel, "sip:alice@example.test"), dir.path(), NoStdin());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "removed sip:alice@example.test\n");
  out = RunUserCommand(Command(UserVerb::kList), dir.path(), NoStdin());
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->find("alice"), std::string::npos) << *out;
}

TEST(UserCli, ErrorsCarryTheirKind) {
  ScratchDir dir;
  UserCommand add = Command(UserVerb::kAdd, "alice@example.test");
  add.password = "pw";
  absl::StatusOr<std::string> out = RunUserCommand(add, dir.path(), NoStdin());
  EXPECT_TRUE(absl::IsInvalidArgument(out.status())) << out.status();
  EXPECT_NE(out.status().message().find("expected sip:user@domain"), std::string::npos);
  add.uri = "sip:alice@example.test";
  add.phones = {"5551234"};
  EXPECT_TRUE(absl::IsInvalidArgument(RunUserCommand(add, dir.path(), NoStdin()).status()));
  add.phones = {};
  ASSERT_TRUE(RunUserCommand(add, dir.path(), NoStdin()).ok());
  out = RunUserCommand(add, dir.path(), NoStdin());
  EXPECT_TRUE(absl::IsAlreadyExists(out.status())) << out.status();
  out = RunUserCommand(Command(UserVerb::kDel, "sip:nobody@example.test"), dir.path(), NoStdin());
  EXPECT_TRUE(absl::IsNotFound(out.status())) << out.status();
  UserCommand passwd = Command(UserVerb::kPasswd, "sip:alice@example.test");
  passwd.password_stdin = true;
  out = RunUserCommand(passwd, dir.path(), []() -> absl::StatusOr<std::string> {
    return absl::InvalidArgumentError("password: empty (nothing on standard input)");
  });
  EXPECT_TRUE(absl::IsInvalidArgument(out.status())) << out.status();
}

// Writes `data` into a pipe and reads a password line from its other end.
absl::StatusOr<std::string> ReadFrom(const std::string& data) {
  int fds[2];
  if (::pipe(fds) != 0) return absl::InternalError("pipe");
  ssize_t n = ::write(fds[1], data.data(), data.size());
  ::close(fds[1]);
  if (n != static_cast<ssize_t>(data.size())) {
    ::close(fds[0]);
    return absl::InternalError("short write");
  }
  absl::StatusOr<std::string> line = ReadPasswordLine(fds[0]);
  ::close(fds[0]);
  return line;
}

TEST(UserCli, ReadPasswordLine) {
  EXPECT_EQ(*ReadFrom("secret\n"), "secret");
  EXPECT_EQ(*ReadFrom("secret"), "secret");
  EXPECT_EQ(*ReadFrom("secret\r\nsecond line\n"), "secret");
  EXPECT_EQ(*ReadFrom("with spaces  \n"), "with spaces  ");
  EXPECT_TRUE(absl::IsInvalidArgument(ReadFrom("").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ReadFrom("\n").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ReadFrom(std::string(1025, 'x')).status()));
  EXPECT_EQ(ReadFrom(std::string(1024, 'x') + "\n")->size(), 1024u);
}

}  // namespace
}  // namespace causeway::gateway
