namespace Smtpd.Tests.Support;

/// <summary>Waits for something another thread makes true, such as a session ending or a callback being called.</summary>
public static class Eventually
{
    /// <summary>Waits until <paramref name="condition"/> holds, failing after ten seconds.</summary>
    /// <param name="condition">Polled every 10 ms.</param>
    /// <param name="what">What the condition means, for the failure message.</param>
    public static async Task WaitUntilAsync(Func<bool> condition, string what = "the condition held")
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"Timed out waiting until {what}.");
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
    }
}
