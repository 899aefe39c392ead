using Smtpd.Catcher.Storage;
using Smtpd.Catcher.Storage.Postgres;

namespace Smtpd.Catcher.Tests.Storage;

/// <summary>
/// <c>--retain N</c> on PostgreSQL checks the count once an instance has stored more than <c>N / 20</c> (at most 500)
/// messages since the last check, not after every group: the store holds the newest N after each prune and never
/// more than N plus that slack (plus the messages of the group being written).
/// </summary>
public sealed class PostgresRetentionSlackTests
{
    [Theory]
    [InlineData(3, 0)]
    [InlineData(19, 0)]
    [InlineData(40, 2)]
    [InlineData(10_000, 500)]
    [InlineData(1_000_000, 500)]
    public void TheSlackIsATwentiethOfTheLimitAtMost500(long retain, long slack) =>
        Assert.Equal(slack, PostgresStoreWriter.CountSlack(retain));

    [Fact]
    public async Task WithRetain40TheStoreStaysBetween40And42AndEndsWithTheNewest()
    {
        await using var test = await StoreBackend.OpenAsync("postgres", new StoreRetention(40, null, 0));
        var ids = new List<long>();
        var most = 0;
        for (var i = 0; i < 100; i++)
        {
            // One at a time: each message is a group of its own, so the bound is exact.
            ids.Add(await TestRecords.StoreAsync(test.Store, TestRecords.Minimal($"message {i}", "Hello"u8.ToArray()), "Hello"u8.ToArray()));
            using var reader = test.Store.Open();
            var kept = reader.AllIds();
            most = Math.Max(most, kept.Count);
            if (i >= 40)
            {
                Assert.InRange(kept.Count, 40, 42);
                // Whatever is kept is the newest: no gap, oldest first.
                Assert.Equal(ids.Skip(ids.Count - kept.Count), kept);
            }
        }

        Assert.Equal(42, most);
    }
}
