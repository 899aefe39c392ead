using System.Text.Json;
using Smtpd.Catcher.Tests.Http;
using Smtpd.Catcher.Webhooks;

namespace Smtpd.Catcher.Tests.Webhooks;

/// <summary>The webhook end to end, against a real HTTP receiver: delivery, retry, drops, and SMTP never waiting.</summary>
public sealed class WebhookTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task EachNewMessageIsPostedAsItsListSummary()
    {
        await using var receiver = await WebhookReceiver.StartAsync((_, _) => Task.FromResult(200));
        await using var host = await CatcherHost.StartAsync(o => o.Webhook.Url = receiver.Url);

        var id = await host.SendSimpleAsync("Hooked");

        var (contentType, body) = await receiver.NextAsync();
        Assert.StartsWith("application/json", contentType, StringComparison.Ordinal);
        using var posted = JsonDocument.Parse(body);
        var summary = posted.RootElement;
        Json.IsSummary(summary);
        Assert.Equal(id, summary.GetProperty("ID").GetString());
        Assert.Equal("Hooked", summary.GetProperty("Subject").GetString());
        // The same object the list shows for the message.
        var listed = (await host.GetJsonAsync("/api/v1/messages")).GetProperty("messages")[0];
        Assert.Equal(listed.GetProperty("ID").GetString(), summary.GetProperty("ID").GetString());
        Assert.Equal(listed.GetProperty("MessageID").GetString(), summary.GetProperty("MessageID").GetString());
        Assert.Equal(listed.GetProperty("Size").GetInt64(), summary.GetProperty("Size").GetInt64());
        await WaitForAsync(host.Catcher.Hooks!.Webhook!, q => q.Delivered == 1);
    }

    [Fact]
    public async Task APostAnswered500IsRetriedAfterABackoff()
    {
        await using var receiver = await WebhookReceiver.StartAsync((n, _) => Task.FromResult(n == 1 ? 500 : 204));
        await using var host = await CatcherHost.StartAsync(o =>
        {
            o.Webhook.Url = receiver.Url;
            o.Webhook.InitialBackoff = TimeSpan.FromMilliseconds(10);
        });

        var id = await host.SendSimpleAsync("Retried");

        var first = await receiver.NextAsync();
        var second = await receiver.NextAsync();
        Assert.Equal(first.Body, second.Body);
        Assert.Contains(id, second.Body, StringComparison.Ordinal);
        var queue = host.Catcher.Hooks!.Webhook!;
        await WaitForAsync(queue, q => q.Delivered == 1);
        Assert.Equal(0, queue.Failed);
    }

    [Fact]
    public async Task AFinalAnswerIsNotRetriedAndAttemptsStopAtTheCap()
    {
        await using var receiver = await WebhookReceiver.StartAsync((n, _) => Task.FromResult(n == 1 ? 404 : 503));
        await using var host = await CatcherHost.StartAsync(o =>
        {
            o.Webhook.Url = receiver.Url;
            o.Webhook.InitialBackoff = TimeSpan.FromMilliseconds(1);
            o.Webhook.MaxAttempts = 2;
        });
        var queue = host.Catcher.Hooks!.Webhook!;

        await host.SendSimpleAsync("Not found");
        await receiver.NextAsync();
        await WaitForAsync(queue, q => q.Failed == 1);
        await host.SendSimpleAsync("Unavailable");
        await receiver.NextAsync();
        await receiver.NextAsync();
        await WaitForAsync(queue, q => q.Failed == 2);

        // 404 once, 503 twice: three POSTs in all, nothing more queued.
        Assert.Equal(0, queue.Delivered);
        Assert.Equal(0, queue.Depth);
    }

    [Fact]
    public async Task AHangingReceiverNeitherDelaysSmtpNorGrowsTheQueuePastItsCapacity()
    {
        var hang = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var receiver = await WebhookReceiver.StartAsync(async (_, aborted) =>
        {
            await hang.Task.WaitAsync(aborted);
            return 200;
        });
        await using var host = await CatcherHost.StartAsync(o =>
        {
            o.Webhook.Url = receiver.Url;
            o.Webhook.QueueCapacity = 1;
            o.Webhook.Timeout = TimeSpan.FromMinutes(5);
        });
        var queue = host.Catcher.Hooks!.Webhook!;

        // The first summary is taken off the queue and its POST hangs.
        await host.SendSimpleAsync("In flight");
        await receiver.NextAsync();
        // Each SMTP transaction still ends with 250 at once: one summary fills the queue, the rest are dropped.
        for (var i = 0; i < 3; i++)
        {
            await host.SendSimpleAsync($"Queued or dropped {i}").WaitAsync(TimeSpan.FromSeconds(30), Cancel);
        }

        Assert.Equal(1, queue.Depth);
        Assert.Equal(2, queue.Dropped);
        Assert.Equal(4, (await host.GetJsonAsync("/api/v1/messages")).GetProperty("total").GetInt32());
        hang.SetResult();
        await WaitForAsync(queue, q => q.Delivered == 2);
    }

    [Fact]
    public async Task AWebhookWithoutAStoreFailsAtStart()
    {
        var options = new CatcherOptions();
        options.Listeners.Add(new SmtpListener(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0)));
        options.Webhook.Url = new Uri("http://127.0.0.1:9/hook");
        await using var catcher = new MailCatcher(options);

        var error = Assert.Throws<CatcherConfigurationException>(catcher.Start);

        Assert.Equal(nameof(CatcherOptions.Webhook), error.Setting);
    }

    /// <summary>Waits until the queue's counters satisfy <paramref name="condition"/>, woken by its Settled signal (30 s only as a failure bound).</summary>
    private static async Task WaitForAsync(WebhookQueue queue, Func<WebhookQueue, bool> condition)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Check()
        {
            if (condition(queue))
            {
                reached.TrySetResult();
            }
        }

        queue.Settled += Check;
        try
        {
            Check();
            await reached.Task.WaitAsync(TimeSpan.FromSeconds(30), Cancel);
        }
        finally
        {
            queue.Settled -= Check;
        }
    }
}
