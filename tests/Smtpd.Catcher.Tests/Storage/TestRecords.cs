using System.Security.Cryptography;
using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Tests.Storage;

/// <summary>The stored-message records the store tests write, built one way.</summary>
internal static class TestRecords
{
    /// <summary>A message from alice@example.com to bob@example.com with <paramref name="subject"/>, its size and SHA-256 those of <paramref name="content"/>.</summary>
    public static MessageRecord Minimal(string subject, byte[] content) => new()
    {
        ReceivedAt = DateTimeOffset.UtcNow,
        MailFrom = "alice@example.com",
        Recipients = ["bob@example.com"],
        Client = "127.0.0.1:4242",
        Size = content.Length,
        Sha256 = Convert.ToHexStringLower(SHA256.HashData(content)),
        Subject = subject,
    };

    /// <summary>Stores <paramref name="content"/> under <paramref name="record"/>, its content held in memory.</summary>
    public static Task<long> StoreAsync(ICatcherStore store, MessageRecord record, byte[] content) =>
        store.StoreAsync(record, content, () => new MemoryStream(content));
}
