using System.Text;
using System.Text.Json;
using Smtpd.Catcher.Http.Live;
using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Tests.Http.Live;

public sealed class CatcherEventsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly CatcherStoredMessage Message = new("7", new MessageRecord
    {
        Id = 7,
        ReceivedAt = DateTimeOffset.UnixEpoch,
        MailFrom = "alice@example.com",
        Recipients = ["bob@example.com"],
        Client = "127.0.0.1:1",
        Size = 10,
        Sha256 = "00",
        Subject = "Hello",
    });

    [Fact]
    public void FramesHaveMailpitsTypeAndDataForEveryEventType()
    {
        using var hub = new CatcherEvents(new CatcherLiveOptions());
        using var subscription = hub.TrySubscribe(CatcherSubscriberKind.Stream, "test")!;
        hub.PublishNew(Message, """{"ID":"7","Subject":"Hello"}"""u8.ToArray());
        hub.PublishReadState("7", read: true);
        hub.PublishTags("7", ["a", "b"]);
        hub.PublishDeleted("7");
        hub.PublishTruncate();
        hub.PublishPrune();

        string[] expected =
        [
            """{"Type":"new","Data":{"ID":"7","Subject":"Hello"}}""",
            """{"Type":"update","Data":{"ID":"7","Read":true}}""",
            """{"Type":"update","Data":{"ID":"7","Tags":["a","b"]}}""",
            """{"Type":"delete","Data":{"ID":"7"}}""",
            """{"Type":"truncate","Data":null}""",
            """{"Type":"prune","Data":null}""",
        ];
        foreach (var frame in expected)
        {
            Assert.True(subscription.Events.TryRead(out var e));
            Assert.Equal(frame, Encoding.UTF8.GetString(e.WebSocketFrame.Span));
        }
    }

    [Fact]
    public void ANewEventsSummaryIsMadeOnlyWhenAClientReadsItAndThenOnce()
    {
        using var hub = new CatcherEvents(new CatcherLiveOptions());
        var made = 0;
        ReadOnlyMemory<byte> Summary()
        {
            Interlocked.Increment(ref made);
            return """{"ID":"7"}"""u8.ToArray();
        }

        // No subscriber: the summary is never made.
        hub.PublishNew(Message, Summary);
        Assert.Equal(0, made);

        using var subscription = hub.TrySubscribe(CatcherSubscriberKind.Stream, "test")!;
        hub.PublishNew(Message, Summary);
        Assert.Equal(0, made);
        Assert.True(subscription.Events.TryRead(out var e));
        Assert.Equal("""{"Type":"new","Data":{"ID":"7"}}""", Encoding.UTF8.GetString(e.WebSocketFrame.Span));
        Assert.Equal("id: " + e.Sequence + "\nevent: new\ndata: {\"ID\":\"7\"}\n\n", Encoding.UTF8.GetString(e.SseFrame.Span));
        Assert.Equal("""{"ID":"7"}""", Encoding.UTF8.GetString(e.Data.Span));
        Assert.Equal(1, made);
    }

    [Fact]
    public void ANewEventWhoseSummaryIsEmptyCarriesNullData()
    {
        using var hub = new CatcherEvents(new CatcherLiveOptions());
        using var subscription = hub.TrySubscribe(CatcherSubscriberKind.Stream, "test")!;
        hub.PublishNew(Message, static () => ReadOnlyMemory<byte>.Empty);
        Assert.True(subscription.Events.TryRead(out var e));
        Assert.Equal("""{"Type":"new","Data":null}""", Encoding.UTF8.GetString(e.WebSocketFrame.Span));
    }

    [Fact]
    public void SseFramesCarryTheSequenceAsIdTheTypeAsEventAndTheDataOnOneLine()
    {
        using var hub = new CatcherEvents(new CatcherLiveOptions());
        using var subscription = hub.TrySubscribe(CatcherSubscriberKind.Stream, "test")!;
        hub.PublishDeleted("7");
        hub.Publish(CatcherEventTypes.New, "{\n\"ID\":\"8\"}"u8.ToArray());

        Assert.True(subscription.Events.TryRead(out var deleted));
        Assert.Equal($"id: {deleted.Sequence}\nevent: delete\ndata: {{\"ID\":\"7\"}}\n\n", Encoding.UTF8.GetString(deleted.SseFrame.Span));
        // A line break inside Data becomes a second data: line, which EventSource joins back with "\n".
        Assert.True(subscription.Events.TryRead(out var multiline));
        Assert.Equal($"id: {multiline.Sequence}\nevent: new\ndata: {{\ndata: \"ID\":\"8\"}}\n\n", Encoding.UTF8.GetString(multiline.SseFrame.Span));
    }

    [Fact]
    public async Task SequenceNumbersIncreaseStrictlyInTheOrderEverySubscriberSees()
    {
        using var hub = new CatcherEvents(new CatcherLiveOptions { SubscriberQueueCapacity = 10_000 });
        using var first = hub.TrySubscribe(CatcherSubscriberKind.Stream, "first")!;
        using var second = hub.TrySubscribe(CatcherSubscriberKind.Stream, "second")!;
        await Task.WhenAll(Enumerable.Range(0, 4).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < 1000; i++)
            {
                hub.PublishDeleted($"{t}-{i}");
            }
        }, TestContext.Current.CancellationToken)));

        var seen = Drain(first);
        Assert.Equal(4000, seen.Count);
        Assert.True(seen.Zip(seen.Skip(1)).All(p => p.Second.Sequence > p.First.Sequence));
        Assert.Equal(seen.Select(e => e.Sequence), Drain(second).Select(e => e.Sequence));
        Assert.Equal(seen[^1].Sequence, hub.LastSequence);
    }

    [Fact]
    public async Task ASubscriberThatNeverReadsIsDroppedWhileTheOthersGetEveryEvent()
    {
        using var hub = new CatcherEvents(new CatcherLiveOptions { SubscriberQueueCapacity = 4 });
        var dropped = new TaskCompletionSource<CatcherSubscription>(TaskCreationOptions.RunContinuationsAsynchronously);
        hub.SubscriberDropped += s => dropped.TrySetResult(s);
        using var stuck = hub.TrySubscribe(CatcherSubscriberKind.Stream, "stuck")!;
        using var reader = hub.TrySubscribe(CatcherSubscriberKind.Stream, "reader")!;
        var received = new List<long>();
        for (var i = 0; i < 10; i++)
        {
            hub.PublishDeleted(i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            // The reader keeps up; the stuck one never reads. Publishing returns at once either way.
            Assert.True(reader.Events.TryRead(out var e));
            received.Add(e.Sequence);
        }

        Assert.Same(stuck, await dropped.Task.WaitAsync(TestContext.Current.CancellationToken));
        Assert.Equal(10, received.Count);
        Assert.Equal(1, hub.DroppedCount);
        Assert.Equal(1, hub.StreamCount);
        Assert.StartsWith("fell behind: more than 4 events", stuck.EndReason, StringComparison.Ordinal);
        Assert.True(stuck.Ended.IsCancellationRequested);
        // What it had queued stays readable, then its queue ends.
        Assert.Equal(4, Drain(stuck).Count);
        Assert.True(stuck.Events.Completion.IsCompleted);
    }

    [Fact]
    public void SubscribersBeyondTheLimitAreRefusedAndStreamsAndWaitsCountSeparately()
    {
        using var hub = new CatcherEvents(new CatcherLiveOptions { MaxSubscribers = 2, MaxWaits = 1 });
        using var one = hub.TrySubscribe(CatcherSubscriberKind.Stream, "1");
        using var two = hub.TrySubscribe(CatcherSubscriberKind.Stream, "2");
        Assert.Null(hub.TrySubscribe(CatcherSubscriberKind.Stream, "3"));
        var wait = hub.TrySubscribe(CatcherSubscriberKind.Wait, "w");
        Assert.NotNull(wait);
        Assert.Null(hub.TrySubscribe(CatcherSubscriberKind.Wait, "w2"));

        // Leaving frees the place.
        wait.Dispose();
        using var again = hub.TrySubscribe(CatcherSubscriberKind.Wait, "w3");
        Assert.NotNull(again);
        Assert.Equal(2, hub.StreamCount);
        Assert.Equal(1, hub.WaitCount);
    }

    [Fact]
    public void ALastEventIdReplaysTheEventsAfterIt()
    {
        using var hub = new CatcherEvents(new CatcherLiveOptions());
        hub.PublishDeleted("1");
        var seen = hub.LastSequence;
        hub.PublishDeleted("2");
        hub.PublishDeleted("3");

        using var resumed = hub.TrySubscribe(CatcherSubscriberKind.Stream, "sse", lastEventId: seen)!;
        Assert.Equal(["2", "3"], Drain(resumed).Select(Id));
        using var current = hub.TrySubscribe(CatcherSubscriberKind.Stream, "sse", lastEventId: hub.LastSequence)!;
        Assert.Empty(Drain(current));
    }

    [Fact]
    public void ALastEventIdOlderThanTheReplayRingGetsAPruneFirstThenWhatIsKept()
    {
        using var hub = new CatcherEvents(new CatcherLiveOptions { ReplayCapacity = 2 });
        var before = hub.LastSequence;
        for (var i = 1; i <= 5; i++)
        {
            hub.PublishDeleted(i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        using var resumed = hub.TrySubscribe(CatcherSubscriberKind.Stream, "sse", lastEventId: before)!;
        var replay = Drain(resumed);
        Assert.Equal(["prune", "delete", "delete"], replay.Select(e => e.Type));
        Assert.Equal(["4", "5"], replay.Skip(1).Select(Id));
        // The prune is numbered just before the first event replayed, so a reconnect after it resumes there.
        Assert.Equal(replay[1].Sequence - 1, replay[0].Sequence);
    }

    [Fact]
    public void WithoutAReplayRingAnyMissedEventBecomesAPrune()
    {
        using var hub = new CatcherEvents(new CatcherLiveOptions { ReplayCapacity = 0 });
        var before = hub.LastSequence;
        hub.PublishDeleted("1");
        using var resumed = hub.TrySubscribe(CatcherSubscriberKind.Stream, "sse", lastEventId: before)!;
        Assert.Equal(["prune"], Drain(resumed).Select(e => e.Type));
    }

    [Fact]
    public void ClosingTheHubEndsEverySubscriptionWithTheReasonAndRefusesNewOnes()
    {
        var hub = new CatcherEvents(new CatcherLiveOptions());
        using var subscription = hub.TrySubscribe(CatcherSubscriberKind.Stream, "s")!;
        hub.Dispose();
        Assert.Equal("the server is stopping", subscription.EndReason);
        Assert.True(subscription.Events.Completion.IsCompleted);
        Assert.True(hub.Closing.IsCancellationRequested);
        Assert.Null(hub.TrySubscribe(CatcherSubscriberKind.Stream, "late"));
    }

    [Fact]
    public async Task AChangeIsFollowedByAStatsEventWithTotalUnreadAndVersion()
    {
        using var hub = new CatcherEvents(new CatcherLiveOptions { StatsInterval = TimeSpan.Zero }, _ => ValueTask.FromResult(new CatcherMailboxStats(3, 2, [])));
        using var subscription = hub.TrySubscribe(CatcherSubscriberKind.Stream, "s")!;
        hub.PublishDeleted("1");
        Assert.True(subscription.Events.TryRead(out var deleted));
        Assert.Equal("delete", deleted.Type);
        var stats = await subscription.Events.ReadAsync(TestContext.Current.CancellationToken);
        Assert.Equal("stats", stats.Type);
        using var data = JsonDocument.Parse(stats.Data);
        Assert.Equal(3, data.RootElement.GetProperty("Total").GetInt64());
        Assert.Equal(2, data.RootElement.GetProperty("Unread").GetInt64());
        Assert.Equal(CatcherEvents.Version, data.RootElement.GetProperty("Version").GetString());
    }

    [Fact]
    public async Task StatsRequestsWithinTheIntervalFoldIntoOneCountMadeAfterIt()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var counts = 0;
        using var hub = new CatcherEvents(new CatcherLiveOptions(), _ => ValueTask.FromResult(new CatcherMailboxStats(Interlocked.Increment(ref counts), 0, [])), time: time);
        using var subscription = hub.TrySubscribe(CatcherSubscriberKind.Stream, "s")!;
        hub.RequestStats();
        hub.PublishDeleted("1");
        hub.PublishDeleted("2");
        time.Advance(TimeSpan.FromMilliseconds(249));
        Assert.Equal(0, counts);

        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(["delete", "delete"], [(await subscription.Events.ReadAsync(Ct)).Type, (await subscription.Events.ReadAsync(Ct)).Type]);
        var stats = await subscription.Events.ReadAsync(Ct);
        Assert.Equal("stats", stats.Type);
        Assert.Equal(1, counts);
        // A change after the count starts a new interval.
        hub.PublishDeleted("3");
        time.Advance(TimeSpan.FromMilliseconds(250));
        Assert.Equal("delete", (await subscription.Events.ReadAsync(Ct)).Type);
        Assert.Equal("stats", (await subscription.Events.ReadAsync(Ct)).Type);
        Assert.Equal(2, counts);
    }

    [Fact]
    public async Task AFailingSummaryWriterNeverTurnsAStoredMessagesReplyIntoAnError()
    {
        await using var host = await LiveHost.StartAsync();
        using var subscription = host.Hub.TrySubscribe(CatcherSubscriberKind.Stream, "s")!;
        using var failing = host.Hub.PublishStoredMessages(host.Catcher, (_, _) => throw new InvalidOperationException("broken"));
        // The 250 still comes (and the working publisher still publishes).
        var id = await host.SendAsync("Still stored");
        var e = await subscription.Events.ReadAsync(TestContext.Current.CancellationToken);
        Assert.Equal("new", e.Type);
        Assert.Equal(id, e.Message!.Id);
    }

    private static List<CatcherEvent> Drain(CatcherSubscription subscription)
    {
        var events = new List<CatcherEvent>();
        while (subscription.Events.TryRead(out var e))
        {
            events.Add(e);
        }

        return events;
    }

    private static string Id(CatcherEvent e)
    {
        using var data = JsonDocument.Parse(e.Data);
        return data.RootElement.GetProperty("ID").GetString()!;
    }
}
