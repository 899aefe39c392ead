using Smtpd.Catcher.Http;

namespace Smtpd.Catcher.Tests.Http;

public sealed class AddressListCacheTests
{
    [Fact]
    public void ARepeatedHeaderIsParsedOnceAndGivesTheSameMailboxes()
    {
        var parses = 0;
        var cache = new AddressListCache(text =>
        {
            parses++;
            return ApiMapper.Addresses(text);
        });

        var first = cache.Get("\"Alice\" <alice@example.com>, bob@example.com");
        var again = cache.Get("\"Alice\" <alice@example.com>, bob@example.com");

        Assert.Equal(1, parses);
        Assert.Same(first, again);
        Assert.Equal(["Alice|alice@example.com", "|bob@example.com"], first.Select(a => a.Name + "|" + a.Address));
    }

    [Fact]
    public void DifferentHeadersGiveTheirOwnMailboxes()
    {
        var cache = new AddressListCache(ApiMapper.Addresses);
        Assert.Equal("a@example.com", Assert.Single(cache.Get("a@example.com")).Address);
        Assert.Equal("b@example.com", Assert.Single(cache.Get("b@example.com")).Address);
        Assert.Equal("a@example.com", Assert.Single(cache.Get("a@example.com")).Address);
    }

    [Fact]
    public void TheCacheNeverHoldsMoreThanItsBound()
    {
        var cache = new AddressListCache(ApiMapper.Addresses);
        for (var i = 0; i < AddressListCache.MaxEntries * 3; i++)
        {
            var text = $"user{i}@example.com";
            Assert.Equal(text, Assert.Single(cache.Get(text)).Address);
            Assert.InRange(cache.Count, 1, AddressListCache.MaxEntries);
        }
    }

    [Fact]
    public void AHeaderLongerThanTheKeyLimitIsParsedEachTimeAndNotKept()
    {
        var parses = 0;
        var cache = new AddressListCache(text =>
        {
            parses++;
            return ApiMapper.Addresses(text);
        });
        var text = string.Join(", ", Enumerable.Range(0, 40).Select(i => $"someone{i}@example.com"));
        Assert.True(text.Length > AddressListCache.MaxKeyLength);

        Assert.Equal(40, cache.Get(text).Count);
        Assert.Equal(40, cache.Get(text).Count);
        Assert.Equal(2, parses);
        Assert.Equal(0, cache.Count);
    }
}
