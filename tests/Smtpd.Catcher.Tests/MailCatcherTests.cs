using System.Net;
using MailKit.Net.Smtp;
using MimeKit;
using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Tests;

public sealed class MailCatcherTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("smtpd-catcher-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void RetainDefaultsToTenThousandAndRefusesANegativeCount()
    {
        var options = new CatcherOptions();
        Assert.Equal(10_000, options.Retain);
        options.Retain = 0;
        Assert.Equal(0, options.Retain);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.Retain = -1);
    }

    [Fact]
    public async Task AMessageSentWithMailKitIsCommittedToTheStoreBeforeItsReply()
    {
        var options = new CatcherOptions { DatabasePath = Path.Combine(_directory, "store.db") };
        options.Listeners.Add(new SmtpListener(new IPEndPoint(IPAddress.Loopback, 0)));
        await using var catcher = new MailCatcher(options);
        string? raised = null;
        catcher.MessageStored += (id, _) => raised = id;
        catcher.Start();

        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("alice@example.com"));
        message.To.Add(MailboxAddress.Parse("bob@example.com"));
        message.Subject = "Caught";
        message.Body = new TextPart("plain") { Text = "Hello" };
        using (var client = new SmtpClient())
        {
            var endpoint = catcher.Listeners[0].EndPoint;
            await client.ConnectAsync(endpoint.Address.ToString(), endpoint.Port, MailKit.Security.SecureSocketOptions.None, TestContext.Current.CancellationToken);
            var reply = await client.SendAsync(message, TestContext.Current.CancellationToken);
            Assert.Equal("2.0.0 Ok: stored as 1", reply);
            await client.DisconnectAsync(true, TestContext.Current.CancellationToken);
        }

        // The reply came after the commit, so a second connection to the store sees the message at once.
        Assert.Equal("1", raised);
        using var store = MessageStore.Open(catcher.StorePath!, readOnly: true);
        var stored = Assert.Single(store.List(new MessageFilter()));
        Assert.Equal("Caught", stored.Subject);
        Assert.Equal(["bob@example.com"], stored.Recipients);
    }

    [Fact]
    public async Task AStoreThatCannotBeOpenedNamesTheDatabasePathSetting()
    {
        var blocker = Path.Combine(_directory, "file");
        await File.WriteAllTextAsync(blocker, "not a directory", TestContext.Current.CancellationToken);
        var options = new CatcherOptions { DatabasePath = Path.Combine(blocker, "store.db") };
        options.Listeners.Add(new SmtpListener(new IPEndPoint(IPAddress.Loopback, 0)));
        await using var catcher = new MailCatcher(options);
        var error = Assert.Throws<CatcherConfigurationException>(catcher.Start);
        Assert.Equal(nameof(CatcherOptions.DatabasePath), error.Setting);
        Assert.Empty(catcher.Listeners);
    }
}
