using System.Text;
using Smtpd.Catcher.Pop3;
using Smtpd.Tests.Support;

namespace Smtpd.Catcher.Tests.Pop3;

/// <summary>
/// Transcripts of whole POP3 sessions against an in-memory maildrop, each fed whole, line by line and byte by byte
/// (<see cref="Pop3Harness.RunEveryWay"/> checks all three give the same output).
/// </summary>
public sealed class Pop3SessionTests
{
    private const string Greeting = "+OK smtpd POP3 server ready\r\n";
    private const string First = "Subject: one\r\n\r\nHello\r\n";
    private const string Second = "Subject: two\r\n\r\n.leading dot\r\nline 2\r\n..two dots\r\n";

    private static MemoryMaildrops TwoMessages() => new MemoryMaildrops().Add(First).Add(Second);

    private static string Login => "USER alice\r\nPASS secret\r\n";

    private static string LoggedIn(int count) => Greeting + "+OK send PASS\r\n" + $"+OK {count} message(s) in the maildrop\r\n";

    [Fact]
    public void UserAndPassLogInAndStatCountsEveryMessageAndItsOctets()
    {
        var output = Pop3Harness.RunEveryWay(Login + "STAT\r\n", TwoMessages);
        Assert.Equal(LoggedIn(2) + $"+OK 2 {First.Length + Second.Length}\r\n", output);
    }

    [Fact]
    public void ListAndUidlGiveOneLineAMessageAndASingleLineForANumber()
    {
        var output = Pop3Harness.RunEveryWay(Login + "LIST\r\nLIST 2\r\nUIDL\r\nUIDL 1\r\n", TwoMessages);
        Assert.Equal(
            LoggedIn(2)
            + $"+OK scan listing follows\r\n1 {First.Length}\r\n2 {Second.Length}\r\n.\r\n"
            + $"+OK 2 {Second.Length}\r\n"
            + "+OK unique-id listing follows\r\n1 uid1\r\n2 uid2\r\n.\r\n"
            + "+OK 1 uid1\r\n",
            output);
    }

    [Fact]
    public void RetrByteStuffsEveryLineThatStartsWithADot()
    {
        var output = Pop3Harness.RunEveryWay(Login + "RETR 2\r\n", TwoMessages);
        Assert.Equal(LoggedIn(2) + $"+OK {Second.Length} octets\r\nSubject: two\r\n\r\n..leading dot\r\nline 2\r\n...two dots\r\n.\r\n", output);
    }

    [Fact]
    public void TopSendsTheHeadersTheBlankLineAndTheFirstBodyLines()
    {
        var output = Pop3Harness.RunEveryWay(Login + "TOP 2 1\r\nTOP 2 0\r\n", TwoMessages);
        Assert.Equal(
            LoggedIn(2)
            + $"+OK {Second.Length} octets\r\nSubject: two\r\n\r\n..leading dot\r\n.\r\n"
            + $"+OK {Second.Length} octets\r\nSubject: two\r\n\r\n.\r\n",
            output);
    }

    [Fact]
    public void DeleMarksAndQuitRemovesOnlyTheMarkedMessages()
    {
        var maildrops = TwoMessages();
        var (output, last, _) = Pop3Harness.Run(Encoding.ASCII.GetBytes(Login + "DELE 1\r\nSTAT\r\nLIST\r\nRETR 1\r\nDELE 1\r\nQUIT\r\n"), FeedMode.ByteByByte, maildrops, Pop3Harness.Settings());
        Assert.Equal(
            LoggedIn(2)
            + "+OK message marked as deleted\r\n"
            + $"+OK 1 {Second.Length}\r\n"
            + $"+OK scan listing follows\r\n2 {Second.Length}\r\n.\r\n"
            + "-ERR message already deleted\r\n"
            + "-ERR message already deleted\r\n"
            + "+OK smtpd POP3 server signing off (1 message(s) deleted)\r\n",
            output);
        Assert.Equal(Pop3Step.Close, last);
        Assert.Equal([1L], maildrops.Removed);
        Assert.False(maildrops.IsLocked("alice"));
    }

    [Fact]
    public void RsetUnmarksSoQuitRemovesNothing()
    {
        var maildrops = TwoMessages();
        var (output, _, _) = Pop3Harness.Run(Encoding.ASCII.GetBytes(Login + "DELE 1\r\nDELE 2\r\nRSET\r\nQUIT\r\n"), FeedMode.Whole, maildrops, Pop3Harness.Settings());
        Assert.EndsWith("+OK 2 message(s) in the maildrop\r\n+OK smtpd POP3 server signing off\r\n", output);
        Assert.Empty(maildrops.Removed);
    }

    [Fact]
    public void AConnectionThatEndsWithoutQuitRemovesNothingAndReleasesTheLock()
    {
        var maildrops = TwoMessages();
        var (_, _, session) = Pop3Harness.Run(Encoding.ASCII.GetBytes(Login + "DELE 1\r\n"), FeedMode.Whole, maildrops, Pop3Harness.Settings());
        Assert.True(maildrops.IsLocked("alice"));
        session.Dispose();
        Assert.Empty(maildrops.Removed);
        Assert.False(maildrops.IsLocked("alice"));
    }

    [Fact]
    public void AWrongPasswordGetsAuthAndTheThirdFailureClosesTheConnection()
    {
        var (output, last, _) = Pop3Harness.Run(Encoding.ASCII.GetBytes("USER alice\r\nPASS wrong\r\nUSER bob\r\nPASS secret\r\nUSER alice\r\nPASS Secret\r\nSTAT\r\n"), FeedMode.LineByLine, TwoMessages(), Pop3Harness.Settings());
        Assert.Equal(
            Greeting
            + "+OK send PASS\r\n-ERR [AUTH] invalid user or password\r\n"
            + "+OK send PASS\r\n-ERR [AUTH] invalid user or password\r\n"
            + "+OK send PASS\r\n-ERR [AUTH] invalid user or password; too many failures, closing\r\n",
            output);
        Assert.Equal(Pop3Step.Close, last);
    }

    [Fact]
    public void WithoutConfiguredUsersAnyUserAndPasswordLogsIn()
    {
        var output = Pop3Harness.RunEveryWay("USER anyone\r\nPASS anything at all\r\nSTAT\r\n", TwoMessages, Pop3Harness.Settings(users: new Dictionary<string, string>()));
        Assert.EndsWith("+OK 2 message(s) in the maildrop\r\n+OK 2 " + (First.Length + Second.Length) + "\r\n", output);
    }

    [Fact]
    public void AuthPlainWithAnInitialResponseLogsIn()
    {
        var plain = Convert.ToBase64String(Encoding.UTF8.GetBytes("\0alice\0secret"));
        var output = Pop3Harness.RunEveryWay($"AUTH PLAIN {plain}\r\nSTAT\r\n", TwoMessages);
        Assert.Equal(Greeting + "+OK 2 message(s) in the maildrop\r\n" + $"+OK 2 {First.Length + Second.Length}\r\n", output);
    }

    [Fact]
    public void AuthPlainWithoutAnInitialResponseAsksForItWithAnEmptyChallenge()
    {
        var plain = Convert.ToBase64String(Encoding.UTF8.GetBytes("alice\0alice\0secret"));
        var output = Pop3Harness.RunEveryWay($"auth plain\r\n{plain}\r\nNOOP\r\n", TwoMessages);
        Assert.Equal(Greeting + "+ \r\n+OK 2 message(s) in the maildrop\r\n+OK NOOP\r\n", output);
    }

    [Fact]
    public void AuthPlainCanBeCancelledWithAStar()
    {
        var output = Pop3Harness.RunEveryWay("AUTH PLAIN\r\n*\r\nSTAT\r\n", TwoMessages);
        Assert.Equal(Greeting + "+ \r\n-ERR [AUTH] authentication cancelled\r\n-ERR command not valid before login\r\n", output);
    }

    [Theory]
    [InlineData("not-base64!")]
    [InlineData("YWxpY2U=")] // "alice": no NUL separators
    [InlineData("Ym9iAGFsaWNlAHNlY3JldA==")] // "bob\0alice\0secret": acting for someone else
    [InlineData("AGFsaWNlAHdyb25n")] // "\0alice\0wrong"
    public void AuthPlainWithABadOrWrongResponseFails(string response)
    {
        var output = Pop3Harness.RunEveryWay($"AUTH PLAIN {response}\r\n", TwoMessages);
        Assert.Equal(Greeting + "-ERR [AUTH] invalid user or password\r\n", output);
    }

    [Fact]
    public void BareAuthListsPlainAndAnotherMechanismIsABadCommand()
    {
        var output = Pop3Harness.RunEveryWay("AUTH\r\nAUTH CRAM-MD5\r\n", TwoMessages);
        Assert.Equal(Greeting + "+OK SASL mechanisms follow\r\nPLAIN\r\n.\r\n-ERR unsupported SASL mechanism; PLAIN is offered\r\n", output);
    }

    [Fact]
    public void CapaListsLoginMechanismsAndStlsOnlyBeforeLogin()
    {
        var output = Pop3Harness.RunEveryWay("CAPA\r\n" + Login + "CAPA\r\n", TwoMessages, Pop3Harness.Settings(tls: true));
        const string common = "+OK capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n";
        Assert.Equal(
            Greeting + common + "USER\r\nSASL PLAIN\r\nSTLS\r\nIMPLEMENTATION smtpd\r\n.\r\n"
            + "+OK send PASS\r\n+OK 2 message(s) in the maildrop\r\n"
            + common + "IMPLEMENTATION smtpd\r\n.\r\n",
            output);
    }

    [Fact]
    public void StlsAsksForTheHandshakeAndTheSessionForgetsTheUserAfterIt()
    {
        var maildrops = TwoMessages();
        var (output, last, session) = Pop3Harness.Run(Encoding.ASCII.GetBytes("STLS\r\nUSER alice\r\n"), FeedMode.ByteByByte, maildrops, Pop3Harness.Settings(tls: true));
        Assert.Equal(Greeting + "+OK begin TLS negotiation\r\n", output);
        Assert.Equal(Pop3Step.StartTls, last);
        session.TlsEstablished();
        Assert.True(session.IsSecure);
        Assert.Equal(Pop3State.Authorization, session.State);

        // RFC 2595 section 4: after the handshake, CAPA no longer offers STLS, and a second STLS is refused.
        var output2 = new System.Buffers.ArrayBufferWriter<byte>();
        session.Process("CAPA"u8, output2);
        session.Process("STLS"u8, output2);
        var after = Encoding.ASCII.GetString(output2.WrittenSpan);
        Assert.DoesNotContain("STLS\r\n", after, StringComparison.Ordinal);
        Assert.EndsWith("-ERR TLS is already in use\r\n", after);
    }

    [Fact]
    public void StlsWithoutACertificateIsRefused()
    {
        var output = Pop3Harness.RunEveryWay("STLS\r\n", TwoMessages);
        Assert.Equal(Greeting + "-ERR STLS is not available: the catcher has no certificate\r\n", output);
    }

    [Fact]
    public void AnotherSessionOfTheSameUserGetsInUse()
    {
        var maildrops = TwoMessages();
        Assert.Equal(Pop3LockResult.Locked, maildrops.TryLock("alice", out var held));
        using (held)
        {
            var (output, _, _) = Pop3Harness.Run(Encoding.ASCII.GetBytes(Login), FeedMode.Whole, maildrops, Pop3Harness.Settings());
            Assert.EndsWith("-ERR [IN-USE] the maildrop is in use by another session\r\n", output);
        }
    }

    [Fact]
    public void AStoreThatCannotBeReadGetsSysTemp()
    {
        var output = Pop3Harness.RunEveryWay(Login, () => new MemoryMaildrops { Result = Pop3LockResult.Unavailable });
        Assert.EndsWith("-ERR [SYS/TEMP] the store cannot be read now; try again\r\n", output);
    }

    [Fact]
    public void AMessageRemovedByOtherMeansSinceLoginGetsSysPerm()
    {
        var maildrops = TwoMessages();
        maildrops.Removed.Add(1);
        var (output, _, _) = Pop3Harness.Run(Encoding.ASCII.GetBytes(Login + "RETR 1\r\n"), FeedMode.Whole, maildrops, Pop3Harness.Settings());
        Assert.EndsWith("-ERR [SYS/PERM] the message was removed from the store by other means\r\n", output);
    }

    [Fact]
    public void AStoreThatFailsDuringRetrGetsSysTempAndTheSessionGoesOn()
    {
        var output = Pop3Harness.RunEveryWay(Login + "RETR 1\r\nNOOP\r\n", () => { var m = TwoMessages(); m.FailOpen = true; return m; });
        Assert.EndsWith("-ERR [SYS/TEMP] the store cannot be read now; try again\r\n+OK NOOP\r\n", output);
    }

    [Fact]
    public void BadCommandsGetReasonsAndTheLimitClosesTheConnection()
    {
        var (output, last, _) = Pop3Harness.Run(
            Encoding.ASCII.GetBytes("HELO x\r\nSTAT\r\nPASS x\r\n" + Login + "RETR\r\nRETR 0\r\nRETR 3\r\nRETR x\r\nTOP 1\r\nLIST 1 2\r\nNOOP x\r\nUSER bob\r\nQUIT\r\n"),
            FeedMode.Whole,
            TwoMessages(),
            Pop3Harness.Settings(maxBadCommands: 10));
        Assert.Equal(
            Greeting
            + "-ERR unknown command\r\n"
            + "-ERR command not valid before login\r\n"
            + "-ERR command not valid before login\r\n"
            + "+OK send PASS\r\n+OK 2 message(s) in the maildrop\r\n"
            + "-ERR missing argument\r\n"
            + "-ERR not a valid message number or line count\r\n"
            + "-ERR no such message\r\n"
            + "-ERR not a valid message number or line count\r\n"
            + "-ERR missing argument\r\n"
            + "-ERR too many arguments\r\n"
            + "-ERR too many arguments\r\n"
            + "-ERR command not valid after login; too many bad commands, closing\r\n",
            output);
        Assert.Equal(Pop3Step.Close, last);
    }

    [Fact]
    public void ALineOverTheLimitIsAnsweredOnceAndDiscardedUpToItsLineFeed()
    {
        var input = "NOOP " + new string('x', 300) + "\r\nQUIT\r\n";
        var output = Pop3Harness.RunEveryWay(input, TwoMessages);
        Assert.Equal(Greeting + "-ERR line too long (255 octets at most, RFC 2449 section 4)\r\n+OK smtpd POP3 server signing off\r\n", output);
    }

    [Fact]
    public void PipelinedCommandsAreAnsweredInOrder()
    {
        // RFC 2449 section 6.6: the client may send several commands before reading the responses.
        var output = Pop3Harness.RunEveryWay(Login + "RETR 1\r\nNOOP\r\nQUIT\r\n", TwoMessages);
        Assert.Equal(LoggedIn(2) + $"+OK {First.Length} octets\r\n{First}.\r\n+OK NOOP\r\n+OK smtpd POP3 server signing off\r\n", output);
    }
}
