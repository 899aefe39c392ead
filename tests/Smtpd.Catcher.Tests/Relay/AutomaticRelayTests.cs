using System.Text.RegularExpressions;
using Smtpd.Catcher.Relay;
using Smtpd.Catcher.Tests.Http;
using Smtpd.Testing;

namespace Smtpd.Catcher.Tests.Relay;

/// <summary><see cref="RelayOptions.Matching"/>: stored messages relayed on their own, after their 250.</summary>
public sealed class AutomaticRelayTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AMessageWithMatchingRecipientsIsRelayedToThoseRecipientsOnly()
    {
        await using var target = await SmtpTestServer.StartAsync(cancellationToken: Cancel);
        await using var host = await CatcherHost.StartAsync(o =>
        {
            o.Relay.Server = ReleaseTests.Url(target);
            o.Relay.Matching = new Regex("@example\\.org$", RegexOptions.IgnoreCase);
        });

        await host.SendSimpleAsync("Not matching", to: "bob@example.com");
        await host.SendSimpleAsync("Matching", to: "carol@example.org");

        var relayed = await target.WaitForMessageAsync(cancellationToken: Cancel);
        Assert.Equal("Matching", relayed.Subject);
        Assert.Equal(["carol@example.org"], relayed.To);
        Assert.Equal("alice@example.com", relayed.From);
        Assert.Single(target.Messages);
        Assert.Equal(2, (await host.GetJsonAsync("/api/v1/messages")).GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task TheAllowListAlsoLimitsAutomaticRelay()
    {
        await using var target = await SmtpTestServer.StartAsync(cancellationToken: Cancel);
        await using var host = await CatcherHost.StartAsync(o =>
        {
            o.Relay.Server = ReleaseTests.Url(target);
            o.Relay.Matching = new Regex(".", RegexOptions.None);
            o.Relay.AllowRecipients = new Regex("^carol@", RegexOptions.IgnoreCase);
        });
        var message = new MimeKit.MimeMessage();
        message.From.Add(MimeKit.MailboxAddress.Parse("alice@example.com"));
        message.To.Add(MimeKit.MailboxAddress.Parse("carol@example.org"));
        message.To.Add(MimeKit.MailboxAddress.Parse("dave@example.org"));
        message.Subject = "Two";
        message.Body = new MimeKit.TextPart("plain") { Text = "Hi" };

        await host.SendAsync(message);

        Assert.Equal(["carol@example.org"], (await target.WaitForMessageAsync(cancellationToken: Cancel)).To);
    }

    [Fact]
    public async Task AFailedAutomaticRelayIsAnnouncedAsAnErrorEventAndTheMessageStaysStored()
    {
        await using var target = await SmtpTestServer.StartAsync(cancellationToken: Cancel);
        target.Faults.Reject(SmtpFaultPoint.Mail, 451, "4.3.0", "try later");
        await using var host = await CatcherHost.StartAsync(o =>
        {
            o.Relay.Server = ReleaseTests.Url(target);
            o.Relay.Matching = new Regex("@example\\.org$", RegexOptions.IgnoreCase);
        });
        var queue = host.Catcher.Hooks!.Relay!;
        var attempted = new TaskCompletionSource<(long, RelayException?)>(TaskCreationOptions.RunContinuationsAsynchronously);
        queue.Attempted += (id, error) => attempted.TrySetResult((id, error));
        var announced = new TaskCompletionSource<Smtpd.Catcher.Http.CatcherChange>(TaskCreationOptions.RunContinuationsAsynchronously);
        host.Catcher.Events.Published += e =>
        {
            if (e.Type == "error")
            {
                announced.TrySetResult(e);
            }
        };

        var stored = await host.SendSimpleAsync("Refused upstream", to: "carol@example.org");

        var (id, error) = await attempted.Task.WaitAsync(Cancel);
        Assert.Equal(stored, id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.NotNull(error);
        Assert.Equal(RelayFailure.Refused, error.Failure);
        var data = Assert.IsType<ErrorEvent>((await announced.Task.WaitAsync(Cancel)).Data);
        Assert.Equal("relay", data.Type);
        Assert.Equal(stored, data.ID);
        Assert.Contains("451", data.Message, StringComparison.Ordinal);
        Assert.Contains("try later", data.Message, StringComparison.Ordinal);
        Assert.Equal(1, queue.Failed);
        await host.GetJsonAsync($"/api/v1/message/{stored}");
    }

    [Fact]
    public async Task MatchingWithoutARelayServerFailsAtStart()
    {
        var options = new CatcherOptions { DatabasePath = Path.Combine(Path.GetTempPath(), $"smtpd-relay-{Guid.NewGuid():N}.db") };
        options.Listeners.Add(new SmtpListener(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0)));
        options.Relay.Matching = new Regex(".", RegexOptions.None);
        await using var catcher = new MailCatcher(options);

        var error = Assert.Throws<CatcherConfigurationException>(catcher.Start);

        Assert.Equal(nameof(CatcherOptions.Relay), error.Setting);
        Assert.Empty(catcher.Listeners);
    }
}
