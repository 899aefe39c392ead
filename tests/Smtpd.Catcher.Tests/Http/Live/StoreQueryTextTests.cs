using Smtpd.Catcher.Http.Live;
using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Tests.Http.Live;

public sealed class StoreQueryTextTests
{
    [Theory]
    [InlineData("", null, null, null)]
    [InlineData("from:alice", "alice", null, null)]
    [InlineData("  to:bob@example.com   subject:\"Your code\" ", null, "bob@example.com", "Your code")]
    [InlineData("FROM:a To:b SUBJECT:c", "a", "b", "c")]
    public void TermsBecomeTheStoresFilters(string query, string? from, string? to, string? subject)
    {
        Assert.True(StoreQueryText.TryParse(query, out var filter, out var error), error);
        Assert.Equal(new MessageFilter(from, to, subject), filter);
    }

    [Theory]
    [InlineData("hello", "'hello' is not a term")]
    [InlineData("tag:x", "'tag:' is not a field")]
    [InlineData("from:", "from: needs a value")]
    [InlineData("subject:\"open", "no closing quote")]
    [InlineData("from:a from:b", "from: appears twice")]
    public void AnythingElseIsRefusedWithAReason(string query, string reason)
    {
        Assert.False(StoreQueryText.TryParse(query, out _, out var error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("from:ALICE", true)]
    [InlineData("from:\"Alice Smyth\"", false)]
    [InlineData("from:\"Alice Smith\"", true)]
    [InlineData("to:carol", true)]
    [InlineData("to:BOB@", true)]
    [InlineData("to:dave", false)]
    [InlineData("subject:code", true)]
    [InlineData("subject:CODE from:alice", true)]
    [InlineData("subject:Ünïcode", false)]
    public void MatchingFoldsOnlyAsciiLettersLikeTheStoresSql(string query, bool matches)
    {
        Assert.True(StoreQueryText.TryParse(query, out var filter, out var error), error);
        var record = new MessageRecord
        {
            ReceivedAt = DateTimeOffset.UnixEpoch,
            MailFrom = "alice@example.com",
            HeaderFrom = "Alice Smith <alice@example.com>",
            Recipients = ["bob@example.com"],
            HeaderTo = "Carol <carol@example.com>",
            Client = "127.0.0.1:1",
            Size = 1,
            Sha256 = "00",
            Subject = "Your code ünïcode",
        };
        Assert.Equal(matches, StoreQueryText.Matches(filter, record));
    }
}
