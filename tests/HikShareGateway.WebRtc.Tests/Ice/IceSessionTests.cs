using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using HikShareGateway.WebRtc.Diagnostics;
using HikShareGateway.WebRtc.Dtls;
using HikShareGateway.WebRtc.Ice;
using HikShareGateway.WebRtc.Sdp;
using HikShareGateway.WebRtc.Stun;
using Microsoft.Extensions.Logging.Abstractions;

namespace HikShareGateway.WebRtc.Tests.Ice;

/// <summary>
/// The full agent inside a session, through the real mux on loopback: a browser stand-in that answers our checks
/// as a controlling agent does. What the mux must do for it: route the responses to our own checks by
/// transaction id, and send our checks from the socket.
/// </summary>
[Trait("Category", "Unit")]
public sealed class IceSessionTests : IAsyncLifetime
{
    private const string BrowserUfrag = "ab+/";
    private const string BrowserPwd = "Qm9ZnYp3s1c0XvR8kLt2Wd7E"; // the fixture offer's
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private static readonly SourceMedia Source = new(new SourceVideo("H264", new H264Profile(0x42, 0xc0, 0x1e)), null);
    private readonly DropCounters _drops = new();
    private UdpMux _mux = null!;
    private WebRtcSessionContext _context = null!;
    private readonly Socket _browser = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);

    public Task InitializeAsync()
    {
        _mux = new UdpMux(new IPEndPoint(IPAddress.Loopback, 0), TimeProvider.System, NullLogger.Instance, _drops);
        _mux.Start();
        _context = new WebRtcSessionContext(_mux, DtlsCertificate.Create(TimeProvider.System), new WebRtcOptions(),
            HostCandidates.For(["127.0.0.1"], _mux.LocalEndPoint.Port), TimeProvider.System, NullLoggerFactory.Instance);
        _browser.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _browser.ReceiveTimeout = (int)Bound.TotalMilliseconds;
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _browser.Dispose();
        await _mux.DisposeAsync();
    }

    private WebRtcSession Create(out string ufrag, out string pwd, out string answer)
    {
        var offer = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "chromium-recvonly-video.sdp"));
        Assert.True(WebRtcSession.TryCreate(Encoding.UTF8.GetBytes(offer), Source, _context, out var session, out answer, out var refusal), refusal?.Reason);
        ufrag = Regex.Match(answer, "a=ice-ufrag:(\\S+)").Groups[1].Value;
        pwd = Regex.Match(answer, "a=ice-pwd:(\\S+)").Groups[1].Value;
        return session;
    }

    [Fact]
    public async Task FullAgent_AnswerIsNotLite_ItsTriggeredCheckIsAnswered_ThenTheBrowsersUseCandidateNominates()
    {
        await using var session = Create(out var ufrag, out var pwd, out var answer);
        Assert.DoesNotContain("a=ice-lite", answer);

        // :: the browser's first check (no USE-CANDIDATE yet): answered, and our triggered check comes back.
        _browser.SendTo(IceTestKit.Check($"{ufrag}:{BrowserUfrag}", pwd, useCandidate: false), _mux.LocalEndPoint);
        var ourCheck = ReceiveUntil(m => m.Class == StunClass.Request, out var sawResponse);
        if (!sawResponse) ReceiveUntil(m => m.Class == StunClass.SuccessResponse, out _);
        Assert.True(StunMessage.TryParse(ourCheck, out var check, out _));
        Assert.Equal($"{BrowserUfrag}:{ufrag}", Encoding.UTF8.GetString(check.Username));
        Assert.True(check.HasIceControlled);
        Assert.True(check.VerifyIntegrity(Encoding.UTF8.GetBytes(BrowserPwd)));

        // :: the browser answers it, then nominates.
        _browser.SendTo(IceAgentTests.SuccessTo(ourCheck, (IPEndPoint)_mux.LocalEndPoint, BrowserPwd), _mux.LocalEndPoint);
        await Wait.UntilAsync(() => session.Ice.Pairs.Any(p => p.State == IcePairState.Succeeded && p.Remote.Address.Equals(_browser.LocalEndPoint)),
            "our check on the browser's pair succeeded");
        _browser.SendTo(IceTestKit.Check($"{ufrag}:{BrowserUfrag}", pwd, useCandidate: true), _mux.LocalEndPoint);
        await Wait.UntilAsync(() => session.Ice.State == IceState.Nominated, "nominated");
        Assert.Equal(_browser.LocalEndPoint, session.Ice.SelectedRemote);
        Assert.Equal(IceCandidateType.PeerReflexive, session.SelectedPair!.Remote.Type);
        Assert.Equal(1, _mux.IceOutcomes.Selected(IceCandidateType.Host, IceCandidateType.PeerReflexive));
    }

    [Fact]
    public async Task TrickledCandidate_IsCheckedBeforeTheBrowserSendsAnything()
    {
        await using var session = Create(out var ufrag, out _, out _);
        var local = (IPEndPoint)_browser.LocalEndPoint!;
        Assert.True(session.AddRemoteCandidate($"a=candidate:9 1 udp 2122260223 127.0.0.1 {local.Port} typ host"));
        Assert.False(session.AddRemoteCandidate($"candidate:9 1 udp 2122260223 127.0.0.1 {local.Port} typ host")); // known already
        var ourCheck = ReceiveUntil(m => m.Class == StunClass.Request, out _);
        Assert.True(StunMessage.TryParse(ourCheck, out var check, out _));
        Assert.Equal($"{BrowserUfrag}:{ufrag}", Encoding.UTF8.GetString(check.Username));
    }

    [Fact]
    public async Task ClosedSession_StopsSendingChecks_AndForgetsItsTransactions()
    {
        var session = Create(out _, out _, out _);
        var local = (IPEndPoint)_browser.LocalEndPoint!;
        session.AddRemoteCandidate($"candidate:9 1 udp 2122260223 127.0.0.1 {local.Port} typ host");
        ReceiveUntil(m => m.Class == StunClass.Request, out _);
        Assert.True(_mux.PendingTransactions > 0);
        await session.DisposeAsync();
        Assert.Equal(IceState.Closed, session.Ice.State);
        Assert.Equal(0, _mux.PendingTransactions);
    }

    [Fact]
    public async Task TrickledFragment_ItsCandidatesAreChecked_LinesThatAreNotCandidatesAreSkipped()
    {
        await using var session = Create(out var ufrag, out _, out _);
        var local = (IPEndPoint)_browser.LocalEndPoint!;
        // What Chromium PATCHes (RFC 8840): the ufrag and pwd, the mid, its candidates, the end.
        var fragment = $"a=ice-ufrag:{BrowserUfrag}\r\na=ice-pwd:{BrowserPwd}\r\na=mid:0\r\n" +
                       $"a=candidate:77 1 udp 1686052607 127.0.0.1 {local.Port} typ srflx raddr 0.0.0.0 rport 0 generation 0\r\n" +
                       "a=candidate:78 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active\r\na=end-of-candidates\r\n";

        Assert.True(session.AddTrickledCandidates(Encoding.UTF8.GetBytes(fragment), out var added));
        Assert.Equal(1, added); // the TCP one is not ours to pair

        // The browser has sent nothing: the check it gets is ours, on the trickled candidate.
        var ourCheck = ReceiveUntil(m => m.Class == StunClass.Request, out _);
        Assert.True(StunMessage.TryParse(ourCheck, out var check, out _));
        Assert.Equal($"{BrowserUfrag}:{ufrag}", Encoding.UTF8.GetString(check.Username));
        Assert.Contains(session.Ice.Pairs, p => p.Remote.Address.Equals(local) && p.Remote.Type == IceCandidateType.ServerReflexive);
    }

    [Fact]
    public async Task TrickledFragment_OfAnotherUfrag_IsAnIceRestart_NothingTaken()
    {
        await using var session = Create(out _, out _, out _);
        var pairs = session.Ice.Pairs.Count;
        var fragment = "a=ice-ufrag:other\r\na=ice-pwd:0123456789abcdefghijklmn\r\na=candidate:77 1 udp 1686052607 127.0.0.1 40000 typ host\r\n";

        Assert.False(session.AddTrickledCandidates(Encoding.UTF8.GetBytes(fragment), out var added));
        Assert.Equal(0, added);
        Assert.Equal(pairs, session.Ice.Pairs.Count);
    }

    [Fact]
    public async Task TrickledFragment_Malformed_OrHuge_AddsAtMostTheCap_AndNeverThrows()
    {
        await using var session = Create(out _, out _, out _);
        var lines = string.Concat(Enumerable.Range(0, 100).Select(i => $"a=candidate:{i} 1 udp 1 127.0.0.{1 + i % 200} {20000 + i} typ host\r\n"));
        Assert.True(session.AddTrickledCandidates(Encoding.UTF8.GetBytes(lines + "a=candidate:garbage\r\n\0\xff"), out var added));
        Assert.Equal(WebRtcSession.MaxTrickledCandidates, added);
        Assert.True(session.AddTrickledCandidates([0xff, 0xfe, 0x0a, 0x0d], out var none));
        Assert.Equal(0, none);
    }

    /// <summary>Reads datagrams until one matches; says whether a success response went by on the way.</summary>
    private byte[] ReceiveUntil(Func<StunMessageSummary, bool> match, out bool sawSuccess)
    {
        sawSuccess = false;
        var buffer = new byte[2048];
        while (true)
        {
            var n = _browser.Receive(buffer);
            if (!StunMessage.TryParse(buffer.AsSpan(0, n), out var m, out _)) continue;
            var summary = new StunMessageSummary(m.Class);
            if (m.Class == StunClass.SuccessResponse) sawSuccess = true;
            if (match(summary)) return buffer[..n];
        }
    }

    private readonly record struct StunMessageSummary(StunClass Class);
}
