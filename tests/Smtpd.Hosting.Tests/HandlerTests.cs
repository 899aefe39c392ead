using System.Collections.Concurrent;
using MailKit.Security;

namespace Smtpd.Hosting.Tests;

public sealed class HandlerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task EachMessageGetsItsOwnScopeWhichIsDisposedAfterDelivery()
    {
        var journal = new Journal();
        await using var host = await TestHost.StartAsync(
            services: s => s.AddSingleton(journal).AddScoped<UnitOfWork>(),
            smtpd: b => b.AddMessageHandler<RecordingHandler>().AddMimeMessageHandler<RecordingMimeHandler>());

        using var client = await host.ConnectAsync();
        await client.SendAsync(TestHost.NewMessage(subject: "first"), Ct);
        await client.SendAsync(TestHost.NewMessage(subject: "second"), Ct);
        await client.DisconnectAsync(true, Ct);

        var entries = journal.Entries.ToArray();
        Assert.Equal(["raw", "mime first", "raw", "mime second"], entries.Select(e => e.What));
        // Both handlers of one message share its scope; the two messages have different scopes.
        Assert.Equal(entries[0].Unit, entries[1].Unit);
        Assert.Equal(entries[2].Unit, entries[3].Unit);
        Assert.NotEqual(entries[0].Unit, entries[2].Unit);
        Assert.All(entries, e => Assert.True(e.Unit.Disposed));
    }

    [Fact]
    public async Task AHandlerRejectionReachesTheClientAndStopsTheHandlersAfterIt()
    {
        var journal = new Journal();
        await using var host = await TestHost.StartAsync(
            services: s => s.AddSingleton(journal).AddScoped<UnitOfWork>(),
            smtpd: b => b.AddMessageHandler<RejectingHandler>().AddMimeMessageHandler<RecordingMimeHandler>());

        var error = await Assert.ThrowsAsync<SmtpCommandException>(() => host.SendAsync());

        Assert.Equal(SmtpErrorCode.MessageNotAccepted, error.ErrorCode);
        Assert.Equal(SmtpStatusCode.InsufficientStorage, error.StatusCode);
        Assert.Empty(journal.Entries);
    }

    [Fact]
    public async Task ValidatorsFromTheContainerJudgeSendersAndRecipientsEachInAScope()
    {
        var journal = new Journal();
        await using var host = await TestHost.StartAsync(
            services: s => s.AddSingleton(journal).AddScoped<UnitOfWork>(),
            smtpd: b => b.AddSenderValidator<KnownSenders>().AddRecipientValidator<KnownSenders>());

        await host.SendAsync(TestHost.NewMessage(to: "bob@example.com"));
        var recipient = await Assert.ThrowsAsync<SmtpCommandException>(() => host.SendAsync(TestHost.NewMessage(to: "eve@elsewhere.test")));

        Assert.Equal(SmtpErrorCode.RecipientNotAccepted, recipient.ErrorCode);
        Assert.Equal("5.1.1 Unknown user", recipient.Message);
        Assert.Equal(["sender alice@example.com", "recipient bob@example.com", "sender alice@example.com", "recipient eve@elsewhere.test"], journal.Entries.Select(e => e.What));
        Assert.Equal(4, journal.Entries.Select(e => e.Unit).Distinct().Count());
    }

    [Fact]
    public async Task AHostValidatorCanTurnClientsAway()
    {
        await using var host = await TestHost.StartAsync(smtpd: b => b.AddHostValidator<NobodyWelcome>());

        var error = await Assert.ThrowsAsync<SmtpCommandException>(host.ConnectAsync);

        Assert.Equal(SmtpStatusCode.TransactionFailed, error.StatusCode);
    }

    [Fact]
    public async Task AnAuthenticatorFromTheContainerOffersAndChecksAuth()
    {
        await using var host = await TestHost.StartAsync(
            settings: new Dictionary<string, string?> { ["Smtpd:AllowInsecureAuth"] = "true", ["Smtpd:RequireAuth"] = "true" },
            smtpd: b => b.AddAuthenticator<OneUser>().AddMimeMessageHandler<IdentityCheck>(),
            services: s => s.AddSingleton(new Journal()).AddScoped<UnitOfWork>());
        using var client = await host.ConnectAsync();

        await Assert.ThrowsAsync<AuthenticationException>(() => client.AuthenticateAsync("app", "wrong", Ct));
        await client.AuthenticateAsync("app", "secret", Ct);
        await client.SendAsync(TestHost.NewMessage(), Ct);

        Assert.Equal("identity app", Assert.Single(host.Host.Services.GetRequiredService<Journal>().Entries).What);
    }

    /// <summary>A scoped dependency, the stand-in for a DbContext.</summary>
    public sealed class UnitOfWork : IDisposable
    {
        public bool Disposed { get; private set; }

        public void Dispose() => Disposed = true;
    }

    public sealed record Entry(string What, UnitOfWork Unit);

    public sealed class Journal
    {
        public ConcurrentQueue<Entry> Entries { get; } = new();
    }

    private sealed class RecordingHandler(Journal journal, UnitOfWork unit) : ISmtpMessageHandler
    {
        public ValueTask<SmtpVerdict> HandleAsync(SmtpMessage message, CancellationToken cancellationToken)
        {
            Assert.False(unit.Disposed);
            journal.Entries.Enqueue(new Entry("raw", unit));
            return ValueTask.FromResult(SmtpVerdict.Accept);
        }
    }

    private sealed class RecordingMimeHandler(Journal journal, UnitOfWork unit) : ISmtpMimeMessageHandler
    {
        public ValueTask<SmtpVerdict> HandleAsync(SmtpMessage message, MimeMessage mime, CancellationToken cancellationToken)
        {
            journal.Entries.Enqueue(new Entry($"mime {mime.Subject}", unit));
            return ValueTask.FromResult(SmtpVerdict.Accept);
        }
    }

    private sealed class RejectingHandler : ISmtpMessageHandler
    {
        public ValueTask<SmtpVerdict> HandleAsync(SmtpMessage message, CancellationToken cancellationToken) =>
            ValueTask.FromResult(SmtpVerdict.Reject(452, "4.3.1", "Queue full"));
    }

    private sealed class KnownSenders(Journal journal, UnitOfWork unit) : ISmtpSenderValidator, ISmtpRecipientValidator
    {
        public ValueTask<SmtpVerdict> ValidateSenderAsync(SmtpSessionContext session, SmtpMailbox? sender, CancellationToken cancellationToken)
        {
            journal.Entries.Enqueue(new Entry($"sender {sender}", unit));
            return ValueTask.FromResult(SmtpVerdict.Accept);
        }

        public ValueTask<SmtpVerdict> ValidateRecipientAsync(SmtpSessionContext session, SmtpMailbox recipient, CancellationToken cancellationToken)
        {
            journal.Entries.Enqueue(new Entry($"recipient {recipient}", unit));
            return ValueTask.FromResult(recipient.Domain == "example.com" ? SmtpVerdict.Accept : SmtpVerdict.Reject(550, "5.1.1", "Unknown user"));
        }
    }

    private sealed class NobodyWelcome : ISmtpHostValidator
    {
        public ValueTask<SmtpVerdict> ValidateHostAsync(SmtpSessionContext session, CancellationToken cancellationToken) =>
            ValueTask.FromResult(SmtpVerdict.Reject(554, null, "No service for you"));
    }

    private sealed class OneUser : ISmtpAuthenticator
    {
        public ValueTask<SmtpVerdict> AuthenticateAsync(SmtpSessionContext session, SmtpAuthentication credentials, CancellationToken cancellationToken) =>
            ValueTask.FromResult(credentials is { Identity: "app", Password: "secret" } ? SmtpVerdict.Accept : SmtpVerdict.Reject());
    }

    private sealed class IdentityCheck(Journal journal, UnitOfWork unit) : ISmtpMimeMessageHandler
    {
        public ValueTask<SmtpVerdict> HandleAsync(SmtpMessage message, MimeMessage mime, CancellationToken cancellationToken)
        {
            journal.Entries.Enqueue(new Entry($"identity {message.Session.AuthenticatedIdentity}", unit));
            return ValueTask.FromResult(SmtpVerdict.Accept);
        }
    }
}
