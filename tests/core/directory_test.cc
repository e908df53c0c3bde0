#include "core/directory.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace causeway {
namespace {

UserRecord User(std::string uri, std::vector<std::string> phones = {}, bool enabled = true) {
  UserRecord user;
  user.uri = std::move(uri);
  user.display_name = "Name of " + user.uri;
  user.phone_numbers = std::move(phones);
  user.enabled = enabled;
  user.ha1_md5 = std::string(32, 'a');
  return user;
}

std::string UriOf(const absl::StatusOr<UserRef>& found) {
  if (!found.ok()) return std::string(found.status().message());
  return *found == nullptr ? "null" : (*found)->uri;
}

class DirectoryTest : public ::testing::Test {
 protected:
  DirectoryTest() {
    directory_.Publish(std::vector<UserRecord>{
        User("sip:alice@example.test", {"+15551230001"}),
        User("sip:Bob@Example.TEST", {"+15551230002", "+445550000"}),
        User("sip:bob@example.com"),  // makes "bob" and EXAMPLE\bob ambiguous
        User("sip:carol@other.org"),
        User("sip:dave@example.test", {"+15551230009"}, /*enabled=*/false),
        User("sip:carol@disabled.net", {}, /*enabled=*/false),  // does not make carol ambiguous
    });
  }
  SnapshotDirectory directory_;
};

TEST(UserRecordTest, Parts) {
  UserRecord user = User("sip:alice@example.test");
  EXPECT_EQ(user.UserPart(), "alice");
  EXPECT_EQ(user.Domain(), "example.test");
  user.uri = "alice@example.test";
  EXPECT_EQ(user.UserPart(), "");
  EXPECT_EQ(user.Domain(), "");
}

TEST_F(DirectoryTest, FindByUriIsCaseInsensitiveAndSkipsDisabled) {
  ASSERT_NE(directory_.FindByUri("sip:alice@example.test"), nullptr);
  EXPECT_EQ(directory_.FindByUri("SIP:ALICE@EXAMPLE.TEST")->uri, "sip:alice@example.test");
  // Stored lower-case whatever the input case was.
  EXPECT_EQ(directory_.FindByUri("sip:bob@example.test")->uri, "sip:bob@example.test");
  EXPECT_EQ(directory_.FindByUri("sip:bob@example.test")->display_name,
            "Name of sip:Bob@Example.TEST");
  EXPECT_EQ(directory_.FindByUri("sip:nobody@example.test"), nullptr);
  EXPECT_EQ(directory_.FindByUri("sip:dave@example.test"), nullptr);
  EXPECT_EQ(directory_.FindByUri(""), nullptr);
  EXPECT_EQ(directory_.Size(), 4u);
}

TEST_F(DirectoryTest, FindByPhone) {
  EXPECT_EQ(directory_.FindByPhone("+15551230001")->uri, "sip:alice@example.test");
  EXPECT_EQ(directory_.FindByPhone("+445550000")->uri, "sip:bob@example.test");
  EXPECT_EQ(directory_.FindByPhone("+15551230002")->uri, "sip:bob@example.test");
  EXPECT_EQ(directory_.FindByPhone("+15551230009"), nullptr);  // disabled user's number
  EXPECT_EQ(directory_.FindByPhone("15551230001"), nullptr);
}

TEST_F(DirectoryTest, DomainsOfEnabledUsers) {
  EXPECT_EQ(directory_.Domains(),
            (std::vector<std::string>{"example.com", "example.test", "other.org"}));
}

TEST_F(DirectoryTest, LoginForms) {
  // Bare user name: only when one enabled user has it.
  EXPECT_EQ(UriOf(directory_.FindByLogin("alice")), "sip:alice@example.test");
  EXPECT_EQ(UriOf(directory_.FindByLogin("ALICE")), "sip:alice@example.test");
  EXPECT_EQ(UriOf(directory_.FindByLogin("carol")), "sip:carol@other.org");
  // UPN form, with or without a domain beside it.
  EXPECT_EQ(UriOf(directory_.FindByLogin("Bob@Example.Com")), "sip:bob@example.com");
  EXPECT_EQ(UriOf(directory_.FindByLogin("bob@example.test", "EXAMPLE")), "sip:bob@example.test");
  // NetBIOS domain: first DNS label of the SIP domain.
  EXPECT_EQ(UriOf(directory_.FindByLogin("alice", "EXAMPLE")), "sip:alice@example.test");
  EXPECT_EQ(UriOf(directory_.FindByLogin("carol", "OTHER")), "sip:carol@other.org");
  EXPECT_EQ(UriOf(directory_.FindByLogin("OTHER\\carol")), "sip:carol@other.org");
  // A full DNS domain as the NTLM domain.
  EXPECT_EQ(UriOf(directory_.FindByLogin("bob", "example.com")), "sip:bob@example.com");
  EXPECT_EQ(UriOf(directory_.FindByLogin("EXAMPLE.TEST\\bob")), "sip:bob@example.test");
}

TEST_F(DirectoryTest, LoginMissesAndAmbiguity) {
  absl::StatusOr<UserRef> bob = directory_.FindByLogin("bob");
  EXPECT_TRUE(absl::IsFailedPrecondition(bob.status())) << bob.status();
  EXPECT_NE(bob.status().message().find("ambiguous"), std::string::npos);
  absl::StatusOr<UserRef> netbios = directory_.FindByLogin("bob", "example");
  EXPECT_TRUE(absl::IsFailedPrecondition(netbios.status())) << netbios.status();
  EXPECT_TRUE(absl::IsNotFound(directory_.FindByLogin("dave").status()));  // disabled
  EXPECT_TRUE(absl::IsNotFound(directory_.FindByLogin("dave", "EXAMPLE").status()));
  EXPECT_TRUE(absl::IsNotFound(directory_.FindByLogin("dave@example.test").status()));
  EXPECT_TRUE(absl::IsNotFound(directory_.FindByLogin("alice", "OTHER").status()));
  EXPECT_TRUE(absl::IsNotFound(directory_.FindByLogin("alice", "example.com").status()));
  EXPECT_TRUE(absl::IsNotFound(directory_.FindByLogin("").status()));
  EXPECT_TRUE(absl::IsNotFound(directory_.FindByLogin("EXAMPLE\\").status()));
  EXPECT_TRUE(absl::IsNotFound(directory_.FindByLogin("nobody").status()));
}

TEST(SnapshotDirectoryTest, DuplicatesFirstWinsAndEmptyDefault) {
  SnapshotDirectory directory;
  EXPECT_EQ(directory.Size(), 0u);
  EXPECT_TRUE(directory.Domains().empty());
  EXPECT_TRUE(absl::IsNotFound(directory.FindByLogin("alice").status()));
  UserRecord first = User("sip:alice@example.test", {"+15550001"});
  first.display_name = "first";
  UserRecord second = User("sip:ALICE@example.test", {"+15550002"});
  second.display_name = "second";
  UserRecord phone_clash = User("sip:zed@example.test", {"+15550001"});
  directory.Publish(std::vector<UserRecord>{first, second, phone_clash, User("not-a-uri")});
  EXPECT_EQ(directory.Size(), 2u);
  EXPECT_EQ(directory.FindByUri("sip:alice@example.test")->display_name, "first");
  EXPECT_EQ(directory.FindByPhone("+15550001")->uri, "sip:alice@example.test");
  EXPECT_EQ(directory.FindByPhone("+15550002"), nullptr);
  // "alice" is one user, not two: the duplicate did not make it ambiguous.
  EXPECT_EQ(UriOf(directory.FindByLogin("alice")), "sip:alice@example.test");
  directory.Publish(std::shared_ptr<const DirectorySnapshot>());
  EXPECT_EQ(directory.Size(), 0u);
}

TEST(SnapshotDirectoryTest, RecordsOutliveTheirSnapshot) {
  SnapshotDirectory directory;
  directory.Publish(std::vector<UserRecord>{User("sip:alice@example.test")});
  UserRef alice = directory.FindByUri("sip:alice@example.test");
  ASSERT_NE(alice, nullptr);
  directory.Publish(std::vector<UserRecord>{User("sip:bob@example.test")});
  EXPECT_EQ(directory.FindByUri("sip:alice@example.test"), nullptr);
  EXPECT_EQ(alice->uri, "sip:alice@example.test");  // still readable (ASan checks the memory)
}

TEST(SnapshotDirectoryTest, ConcurrentLookupsDuringPublish) {
  SnapshotDirectory directory;
  directory.Publish(std::vector<UserRecord>{User("sip:alice@example.test", {"+15550001"})});
  std::atomic<bool> stop{false};
  std::atomic<int> misses{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      for (int i = 0; i < 20000 && !stop.load(); ++i) {
        UserRef user = directory.FindByLogin("alice").value_or(nullptr);
        if (user == nullptr || user->phone_numbers.size() != 1) misses.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < 500; ++i) {
    UserRecord alice = User("sip:alice@example.test", {"+1555" + std::to_string(i + 10000)});
    directory.Publish(std::vector<UserRecord>{alice, User("sip:x" + std::to_string(i) + "@a.b")});
  }
  stop.store(true);
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(misses.load(), 0);
  EXPECT_EQ(directory.FindByPhone("+155510499")->uri, "sip:alice@example.test");
}

}  // namespace
}  // namespace causeway
