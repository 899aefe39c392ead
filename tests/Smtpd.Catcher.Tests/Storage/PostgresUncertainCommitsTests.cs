using Microsoft.Extensions.Time.Testing;
using Smtpd.Catcher.Storage;
using Smtpd.Catcher.Storage.Postgres;

namespace Smtpd.Catcher.Tests.Storage;

/// <summary>The in-memory map of messages answered 451 whose commit could not be confirmed: its key, its time limit and its bound.</summary>
public sealed class PostgresUncertainCommitsTests
{
    private static MessageRecord Record(string from, string[] to, string sha256) => new()
    {
        ReceivedAt = DateTimeOffset.UtcNow,
        MailFrom = from,
        Recipients = to,
        Client = "127.0.0.1:1",
        Size = 10,
        Sha256 = sha256,
    };

    [Fact]
    public void TheKeyIgnoresRecipientOrderButNotTheEnvelopeOrTheContent()
    {
        var key = PostgresUncertainCommits.KeyOf(Record("a@x", ["b@x", "c@x"], "00"));

        Assert.Equal(key, PostgresUncertainCommits.KeyOf(Record("a@x", ["c@x", "b@x"], "00") with { Client = "10.0.0.1:2" }));
        Assert.NotEqual(key, PostgresUncertainCommits.KeyOf(Record("z@x", ["b@x", "c@x"], "00")));
        Assert.NotEqual(key, PostgresUncertainCommits.KeyOf(Record("a@x", ["b@x"], "00")));
        Assert.NotEqual(key, PostgresUncertainCommits.KeyOf(Record("a@x", ["b@x", "c@x"], "01")));
    }

    [Fact]
    public void AnEntryIsForgottenAfterItsLifetime()
    {
        var clock = new FakeTimeProvider();
        var map = new PostgresUncertainCommits(clock);
        map.Remember("k", 7, 1234);

        clock.Advance(PostgresUncertainCommits.Lifetime - TimeSpan.FromSeconds(1));
        Assert.True(map.TryGet("k", out var entry));
        Assert.Equal(7, entry.Id);
        Assert.Equal(1234, entry.Transaction);

        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.False(map.TryGet("k", out _));
        Assert.Equal(0, map.Count);
    }

    [Fact]
    public void PastItsCapacityTheOldestEntryGoesFirst()
    {
        var map = new PostgresUncertainCommits(new FakeTimeProvider());
        for (var i = 0; i <= PostgresUncertainCommits.Capacity; i++)
        {
            map.Remember($"k{i}", i, i);
        }

        Assert.Equal(PostgresUncertainCommits.Capacity, map.Count);
        Assert.False(map.TryGet("k0", out _));
        Assert.True(map.TryGet("k1", out _));
        Assert.True(map.TryGet($"k{PostgresUncertainCommits.Capacity}", out _));
    }

    [Fact]
    public void TwoIdenticalMessagesRememberedTogetherAreTwoEntriesForgottenOneAtATime()
    {
        var map = new PostgresUncertainCommits(new FakeTimeProvider());
        map.Remember("k", 1, 10);
        map.Remember("k", 2, 10);

        Assert.Equal(2, map.Count);
        Assert.True(map.TryGet("k", 0, out var first));
        Assert.True(map.TryGet("k", 1, out var second));
        Assert.False(map.TryGet("k", 2, out _));
        Assert.Equal((1, 2), (first.Id, second.Id));

        map.Forget("k", second);
        Assert.True(map.TryGet("k", out var left));
        Assert.Equal(1, left.Id);
        map.Forget("k", first);
        Assert.False(map.TryGet("k", out _));
        Assert.Equal(0, map.Count);
    }

    [Fact]
    public void PastItsCapacityAKeyRememberedAgainKeepsItsNewerEntry()
    {
        var map = new PostgresUncertainCommits(new FakeTimeProvider());
        map.Remember("k", 1, 1);
        map.Forget("k");
        for (var i = 0; i < PostgresUncertainCommits.Capacity - 1; i++)
        {
            map.Remember($"o{i}", i, i);
        }

        map.Remember("k", 2, 2);
        Assert.Equal(PostgresUncertainCommits.Capacity, map.Count);

        // Full: the oldest entry still remembered goes, not the newer one under the key forgotten first.
        map.Remember("x", 3, 3);

        Assert.Equal(PostgresUncertainCommits.Capacity, map.Count);
        Assert.True(map.TryGet("k", out var entry));
        Assert.Equal(2, entry.Id);
        Assert.False(map.TryGet("o0", out _));
        Assert.True(map.TryGet("x", out _));
    }

    [Fact]
    public void AKeyRememberedAgainOutlivesItsFirstEntry()
    {
        var clock = new FakeTimeProvider();
        var map = new PostgresUncertainCommits(clock);
        map.Remember("k", 1, 1);
        clock.Advance(TimeSpan.FromHours(1));
        map.Remember("k", 2, 2);

        clock.Advance(PostgresUncertainCommits.Lifetime - TimeSpan.FromHours(1));

        Assert.True(map.TryGet("k", out var entry));
        Assert.Equal(2, entry.Id);
        Assert.Equal(1, map.Count);
    }
}
