using Microsoft.Data.Sqlite;
using Smtpd.Catcher.Search;
using Smtpd.Catcher.Storage;
using Smtpd.Catcher.Tests.Search;

namespace Smtpd.Catcher.Tests.Storage;

/// <summary>The list's counts are remembered per pooled connection, and never outlive a change to the store.</summary>
public sealed class CountCacheTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("smtpd-counts-").FullName;

    private string Database => Path.Combine(_directory, "store.db");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public void CountsFollowChangesMadeOnTheSameConnectionAndOnAnother()
    {
        using (var search = new SearchTestStore(Database))
        {
            search.Insert(new TestMessage(1) { Subject = "Invoice 1" }, new TestMessage(2) { Subject = "Invoice 2" }, new TestMessage(3) { Subject = "Other" });
        }

        var invoices = SearchQueryCompiler.Instance.Compile("subject:invoice", TimeZoneInfo.Utc);
        Assert.Equal((3L, 3L, 2L, 2L), Counts(invoices));
        Assert.Equal((3L, 3L, 2L, 2L), Counts(invoices));

        // Through the pool: the same native connection, which changes the store itself.
        using (var store = MessageStore.OpenPooled(Database))
        {
            store.SetRead([1L], read: true);
        }

        Assert.Equal((3L, 2L, 2L, 1L), Counts(invoices));

        // Another connection (another process's smtpd delete, the writer) changes it.
        using (var other = new SqliteConnection($"Data Source={Database};Pooling=False"))
        {
            other.Open();
            StoreSchema.Execute(other, "UPDATE messages SET is_read = 1 WHERE id = 2");
        }

        Assert.Equal((3L, 1L, 2L, 0L), Counts(invoices));
        Assert.Equal((3L, 1L, 3L, 1L), Counts(null));
    }

    private (long, long, long, long) Counts(CompiledQuery? query)
    {
        using var store = MessageStore.OpenPooled(Database);
        var page = store.Page(query, 0, 10);
        return (page.Total, page.Unread, page.Matched, page.MatchedUnread);
    }
}
