using System.Net;
using System.Text;
using HikShareGateway.WebRtc.Diagnostics;
using HikShareGateway.WebRtc.Ice;
using HikShareGateway.WebRtc.Stun;
using Microsoft.Extensions.Time.Testing;

namespace HikShareGateway.WebRtc.Tests.Ice;

/// <summary>The full agent as a state machine: fake time, a transport that records, no sockets.</summary>
[Trait("Category", "Unit")]
public sealed class IceAgentTests
{
    private static readonly IceCredentials Ours = new("gwUf", "gatewaypassword1234567890");
    private const string BrowserUfrag = "brUf";
    private const string BrowserPwd = "browserpassword0987654321";
    private static readonly IPEndPoint Host = IPEndPoint.Parse("192.168.20.2:50000");
    private static readonly IPEndPoint Srflx = IPEndPoint.Parse("10.99.2.2:50000");
    private static readonly IPEndPoint Relay = IPEndPoint.Parse("10.99.1.1:49170");

    private readonly FakeTimeProvider _time = new();
    private readonly DropCounters _drops = new();
    private readonly RecordingTransport _transport = new();
    private readonly IceOutcomeCounters _outcomes = new();
    private readonly IceBase _direct = IceBase.Direct(IceCandidate.ComputePriority(IceCandidateType.Host, 65535));

    private IceAgent Agent(ulong tieBreaker = 100, IceRole role = IceRole.Controlled, int consentSeconds = 30)
    {
        var agent = new IceAgent(Ours, BrowserUfrag, BrowserPwd,
            new IceAgentOptions { TieBreaker = tieBreaker, Outcomes = _outcomes, InitialRole = role, ConsentTimeout = TimeSpan.FromSeconds(consentSeconds) },
            _time, _drops, _transport);
        agent.AddLocalBase(_direct);
        return agent;
    }

    private static IceCandidate Candidate(IPEndPoint address, IceCandidateType type, int localPreference = 65535)
        => new("f" + (int)type, 1, IceCandidate.ComputePriority(type, localPreference), address, type);

    [Fact]
    public void Checks_GoToEveryRemoteCandidate_HighestPriorityFirst_OnePerTa()
    {
        var agent = Agent();
        agent.AddRemoteCandidate(Candidate(Srflx, IceCandidateType.ServerReflexive));
        agent.AddRemoteCandidate(Candidate(Host, IceCandidateType.Host));
        agent.AddRemoteCandidate(Candidate(Relay, IceCandidateType.Relayed));
        agent.Start();

        Assert.Single(_transport.Sent); // the first check at once
        _time.Advance(TimeSpan.FromMilliseconds(49));
        Assert.Single(_transport.Sent);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(2, _transport.Sent.Count);
        _time.Advance(TimeSpan.FromMilliseconds(50));
        Assert.Equal([Host, Srflx, Relay], _transport.Sent.Select(s => s.To));

        var check = _transport.Sent[0];
        Assert.True(StunMessage.TryParse(check.Bytes, out var m, out _));
        Assert.Equal(StunClass.Request, m.Class);
        Assert.Equal("brUf:gwUf", Encoding.UTF8.GetString(m.Username)); // RFC 8445 §7.2.2: theirs:ours
        Assert.True(m.HasIceControlled);
        Assert.False(m.HasIceControlling);
        Assert.Equal(100UL, m.TieBreaker);
        Assert.True(m.HasPriority);
        Assert.True(m.HasFingerprint);
        Assert.True(m.VerifyIntegrity(Encoding.UTF8.GetBytes(BrowserPwd)));
        Assert.False(m.UseCandidate);
        Assert.Contains(StunTransactionId.From(m.TransactionId), _transport.Expected);
    }

    [Fact]
    public void UnansweredCheck_IsRetransmittedWithDoublingRto_ThenThePairFails()
    {
        var agent = Agent(consentSeconds: 300); // the answer's consent would end the session at 30 s
        agent.AddRemoteCandidate(Candidate(Host, IceCandidateType.Host));
        agent.Start();
        var times = new List<TimeSpan>();
        var start = _time.GetUtcNow();
        var seen = _transport.Sent.Count;
        for (var i = 0; i < 800; i++) // 40 s in Ta steps
        {
            _time.Advance(TimeSpan.FromMilliseconds(50));
            if (_transport.Sent.Count > seen) { seen = _transport.Sent.Count; times.Add(_time.GetUtcNow() - start); }
        }
        Assert.Equal(7, _transport.Sent.Count); // Rc transmissions, all with the same transaction id
        Assert.Single(_transport.Sent.Select(s => Convert.ToHexString(s.Bytes.AsSpan(8, 12))).Distinct());
        Assert.Equal([500, 1500, 3500, 7500, 15500, 31500], times.Select(t => (int)t.TotalMilliseconds));
        Assert.Equal(IcePairState.Failed, agent.Pairs[0].State);
        Assert.Empty(_transport.Expected); // forgotten at the end
    }

    [Fact]
    public void BrowserNomination_OnAPairOurCheckValidated_SelectsIt_AndCountsItsCandidateTypes()
    {
        var agent = Agent();
        var states = new List<IceState>();
        agent.StateChanged += states.Add;
        agent.AddRemoteCandidate(Candidate(Srflx, IceCandidateType.ServerReflexive));
        agent.Start();
        var check = _transport.Sent[0];
        Assert.True(agent.HandleResponse(Parse(SuccessTo(check.Bytes, Srflx, BrowserPwd)), null, Srflx));
        Assert.Equal(IcePairState.Succeeded, agent.Pairs[0].State);
        Assert.Equal(IceState.Connected, agent.State);

        Assert.Equal(IceCheckOutcome.Answered, Request(agent, BrowserCheck(useCandidate: true), Srflx, out _));
        Assert.Equal(IceState.Nominated, agent.State);
        Assert.Equal(Srflx, agent.SelectedRemote);
        Assert.Same(_direct, agent.SelectedBase);
        Assert.True(agent.SelectedPair!.Nominated);
        Assert.Equal([IceState.Connected, IceState.Nominated], states);
        Assert.Equal(1, _outcomes.Selected(IceCandidateType.Host, IceCandidateType.ServerReflexive));
    }

    [Fact]
    public void UseCandidate_BeforeOurCheckSucceeded_NominatesWhenTheTriggeredCheckSucceeds()
    {
        var agent = Agent();
        agent.Start();
        // The browser's check comes from an address it never signalled: a peer-reflexive candidate.
        Assert.Equal(IceCheckOutcome.Answered, Request(agent, BrowserCheck(useCandidate: true), Srflx, out var response));
        Assert.True(StunMessage.TryParse(response, out var r, out _));
        Assert.True(r.TryGetXorMappedAddress(out var mapped));
        Assert.Equal(Srflx, mapped);
        Assert.Equal(IceState.Connected, agent.State);
        var pair = Assert.Single(agent.Pairs);
        Assert.Equal(IceCandidateType.PeerReflexive, pair.Remote.Type);
        Assert.Equal(1853824767u, pair.Remote.Priority); // PRIORITY of the request

        _time.Advance(TimeSpan.FromMilliseconds(50)); // the triggered check
        var check = Assert.Single(_transport.Sent);
        Assert.Equal(Srflx, check.To);
        Assert.True(agent.HandleResponse(Parse(SuccessTo(check.Bytes, Srflx, BrowserPwd)), null, Srflx));
        Assert.Equal(IceState.Nominated, agent.State);
        Assert.Equal(1, _outcomes.Selected(IceCandidateType.Host, IceCandidateType.PeerReflexive));
    }

    [Fact]
    public void TriggeredCheck_GoesBeforeTheOrdinaryOnes()
    {
        var agent = Agent();
        agent.AddRemoteCandidate(Candidate(Host, IceCandidateType.Host));
        agent.AddRemoteCandidate(Candidate(Relay, IceCandidateType.Relayed));
        agent.Start(); // check 1: the host candidate
        Request(agent, BrowserCheck(useCandidate: false), Srflx, out _);
        _time.Advance(TimeSpan.FromMilliseconds(50));
        Assert.Equal([Host, Srflx], _transport.Sent.Select(s => s.To));
    }

    [Fact]
    public void ResponseFromAnotherAddress_FailsThePair()
    {
        var agent = Agent();
        agent.AddRemoteCandidate(Candidate(Host, IceCandidateType.Host));
        agent.Start();
        Assert.True(agent.HandleResponse(Parse(SuccessTo(_transport.Sent[0].Bytes, Host, BrowserPwd)), null, Srflx));
        Assert.Equal(IcePairState.Failed, agent.Pairs[0].State);
        Assert.Equal(IceState.New, agent.State);
    }

    [Fact]
    public void ResponseWithWrongIntegrity_IsDropped_AndTheCheckGoesOn()
    {
        var agent = Agent();
        agent.AddRemoteCandidate(Candidate(Host, IceCandidateType.Host));
        agent.Start();
        Assert.False(agent.HandleResponse(Parse(SuccessTo(_transport.Sent[0].Bytes, Host, "not-the-password-at-all")), null, Host));
        Assert.Equal(1, _drops[DropReason.StunBadIntegrity]);
        Assert.Equal(IcePairState.InProgress, agent.Pairs[0].State);
    }

    [Fact]
    public void ResponseToSomeoneElsesTransaction_IsNotOurs()
    {
        var agent = Agent();
        agent.Start();
        var stray = IceTestKit.Check("x:y", BrowserPwd, false);
        Assert.False(agent.HandleResponse(Parse(SuccessTo(stray, Host, BrowserPwd)), null, Host));
    }

    [Fact]
    public void BothControlled_TheHigherTieBreakerBecomesControlling_TheLowerAnswers487()
    {
        var low = Agent(tieBreaker: 1);
        Assert.Equal(IceCheckOutcome.AnsweredRoleConflict, Request(low, BrowserCheck(false, controlled: true, tieBreaker: 5), Srflx, out var response));
        Assert.True(StunMessage.TryParse(response, out var r, out _));
        Assert.True(r.TryGetErrorCode(out var code, out _));
        Assert.Equal(487, code);
        Assert.True(r.VerifyIntegrity(Encoding.UTF8.GetBytes(Ours.Pwd)));
        Assert.Equal(IceRole.Controlled, low.Role);

        var high = Agent(tieBreaker: 9);
        Assert.Equal(IceCheckOutcome.Answered, Request(high, BrowserCheck(false, controlled: true, tieBreaker: 5), Srflx, out _));
        Assert.Equal(IceRole.Controlling, high.Role);
    }

    [Fact]
    public void Error487ToOurCheck_SwitchesRole_AndChecksThePairAgain()
    {
        var agent = Agent();
        agent.AddRemoteCandidate(Candidate(Host, IceCandidateType.Host));
        agent.Start();
        Assert.True(agent.HandleResponse(Parse(ErrorTo(_transport.Sent[0].Bytes, 487, BrowserPwd)), null, Host));
        Assert.Equal(IceRole.Controlling, agent.Role);
        _time.Advance(TimeSpan.FromMilliseconds(50));
        Assert.Equal(2, _transport.Sent.Count);
        Assert.True(StunMessage.TryParse(_transport.Sent[1].Bytes, out var again, out _));
        Assert.True(again.HasIceControlling);
    }

    [Fact]
    public void Controlling_NominatesTheFirstValidPair_WithUseCandidate()
    {
        var agent = Agent(role: IceRole.Controlling);
        agent.AddRemoteCandidate(Candidate(Host, IceCandidateType.Host));
        agent.Start();
        agent.HandleResponse(Parse(SuccessTo(_transport.Sent[0].Bytes, Host, BrowserPwd)), null, Host);
        _time.Advance(TimeSpan.FromMilliseconds(50));
        Assert.True(StunMessage.TryParse(_transport.Sent[1].Bytes, out var nominating, out _));
        Assert.True(nominating.UseCandidate);
        Assert.Equal(IceState.Connected, agent.State);
        agent.HandleResponse(Parse(SuccessTo(_transport.Sent[1].Bytes, Host, BrowserPwd)), null, Host);
        Assert.Equal(IceState.Nominated, agent.State);
    }

    [Fact]
    public void Consent_IsRequestedEvery5sOnTheSelectedPair_AndLapses30sAfterTheLastResponse()
    {
        var agent = Nominated(out _);
        var before = _transport.Sent.Count;
        Run(TimeSpan.FromSeconds(6.1)); // 4..6 s
        var consent = _transport.Sent.Skip(before).Single();
        Assert.Equal(Srflx, consent.To);
        agent.HandleResponse(Parse(SuccessTo(consent.Bytes, Srflx, BrowserPwd)), null, Srflx);

        // The browser stops answering: 30 s after that response the session closes, not before.
        Run(TimeSpan.FromSeconds(29));
        Assert.Equal(IceState.Nominated, agent.State);
        Assert.True(_transport.Sent.Count >= before + 5, $"{_transport.Sent.Count - before} consent requests in 35 s"); // they kept going out
        Run(TimeSpan.FromSeconds(2)); // the slow timer checks once a second
        Assert.Equal(IceState.Closed, agent.State);
        Assert.Empty(_transport.Expected);
    }

    [Fact]
    public void Consent_AnsweredThroughout_KeepsTheSessionFor5Minutes()
    {
        var agent = Nominated(out _);
        for (var s = 0; s < 300; s++)
        {
            var n = _transport.Sent.Count;
            _time.Advance(TimeSpan.FromSeconds(1));
            for (var i = n; i < _transport.Sent.Count; i++)
            {
                agent.HandleResponse(Parse(SuccessTo(_transport.Sent[i].Bytes, Srflx, BrowserPwd)), null, Srflx);
            }
        }
        Assert.Equal(IceState.Nominated, agent.State);
    }

    [Fact]
    public void NoCheckEver_ClosesAtTheConsentTimeout_AndCountsAFailure()
    {
        var agent = Agent();
        agent.AddRemoteCandidate(Candidate(Host, IceCandidateType.Host));
        agent.Start();
        _time.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal(IceState.Closed, agent.State);
        Assert.Equal(1, _outcomes.Failed);
    }

    [Fact]
    public void TrickledCandidate_AfterStart_IsChecked()
    {
        var agent = Agent();
        agent.Start();
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.Empty(_transport.Sent);
        Assert.Equal(1, agent.AddRemoteCandidates(["candidate:1 1 udp 2122260223 192.168.20.2 50000 typ host", "candidate:2 1 udp 2122260223 abc.local 50001 typ host"]));
        _time.Advance(TimeSpan.FromMilliseconds(50)); // the slow timer speeds up at once for new work
        Assert.Equal(Host, Assert.Single(_transport.Sent).To);
    }

    [Fact]
    public void RelayBase_PairsWithRemoteCandidates_AndChecksLeaveThroughIt()
    {
        var agent = Agent();
        var relayBase = IceBase.Relayed(IceCandidate.ComputePriority(IceCandidateType.Relayed, 65535), Relay, new object());
        agent.AddLocalBase(relayBase);
        agent.AddRemoteCandidate(Candidate(Srflx, IceCandidateType.ServerReflexive));
        agent.Start();
        _time.Advance(TimeSpan.FromMilliseconds(50));
        Assert.Equal([_direct, relayBase], _transport.Sent.Select(s => s.Via));
        // A response through the wrong base is not symmetric: the relay pair fails, the direct one stays.
        agent.HandleResponse(Parse(SuccessTo(_transport.Sent[1].Bytes, Srflx, BrowserPwd)), null, Srflx);
        Assert.Equal(IcePairState.Failed, agent.Pairs.Single(p => p.Local == relayBase).State);
        agent.HandleResponse(Parse(SuccessTo(_transport.Sent[0].Bytes, Srflx, BrowserPwd)), null, Srflx);
        Assert.Equal(IcePairState.Succeeded, agent.Pairs.Single(p => p.Local == _direct).State);
    }

    [Fact]
    public void TwoAgents_ControllingAndControlled_ConnectAndAgreeOnTheNominatedPair()
    {
        var net = new Dictionary<IPEndPoint, IceAgent>();
        var a = new InMemoryPeer(IPEndPoint.Parse("10.0.0.1:1000"), net);
        var b = new InMemoryPeer(IPEndPoint.Parse("10.0.0.2:2000"), net);
        var ca = new IceCredentials("aaaa", "apasswordapasswordapassword");
        var cb = new IceCredentials("bbbb", "bpasswordbpasswordbpassword");
        var controlled = new IceAgent(ca, cb.Ufrag, cb.Pwd, new IceAgentOptions(), _time, _drops, a);
        var controlling = new IceAgent(cb, ca.Ufrag, ca.Pwd, new IceAgentOptions { InitialRole = IceRole.Controlling }, _time, _drops, b);
        a.Agent = controlled;
        b.Agent = controlling;
        net[a.Address] = controlled;
        net[b.Address] = controlling;
        controlled.AddLocalBase(a.Base);
        controlling.AddLocalBase(b.Base);
        controlled.AddRemoteCandidate(Candidate(b.Address, IceCandidateType.Host));
        controlling.AddRemoteCandidate(Candidate(a.Address, IceCandidateType.Host));
        controlled.Start();
        controlling.Start();
        for (var i = 0; i < 20; i++) _time.Advance(TimeSpan.FromMilliseconds(50));
        Assert.Equal(IceState.Nominated, controlled.State);
        Assert.Equal(IceState.Nominated, controlling.State);
        Assert.Equal(b.Address, controlled.SelectedRemote);
        Assert.Equal(a.Address, controlling.SelectedRemote);
    }

    [Fact]
    public void LiteOption_SendsNothing()
    {
        var lite = new IceAgent(Ours, BrowserUfrag, BrowserPwd, new IceAgentOptions { Lite = true }, _time, _drops, _transport);
        lite.AddLocalBase(_direct);
        lite.AddRemoteCandidate(Candidate(Host, IceCandidateType.Host));
        lite.Start();
        Request(lite, BrowserCheck(true), Host, out _);
        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.Empty(_transport.Sent);
        Assert.Equal(IceState.Nominated, lite.State);
    }

    [Fact]
    public void TrickledCandidates_PastTheCheckListLimit_AreRefused()
    {
        var agent = new IceAgent(Ours, BrowserUfrag, BrowserPwd, new IceAgentOptions { MaxPairs = 3 }, _time, _drops, _transport);
        agent.AddLocalBase(_direct);
        var added = 0;
        for (var i = 0; i < 10; i++)
        {
            if (agent.AddRemoteCandidate(Candidate(new IPEndPoint(IPAddress.Parse("10.0.0.1"), 1000 + i), IceCandidateType.Host))) added++;
        }
        Assert.Equal(3, added);
        Assert.Equal(3, agent.Pairs.Count);
    }

    [Fact]
    public void MutatedChecksAndResponses_NeverThrow_AndNeverNominate()
    {
        // Seeded mutations of a valid check and of a valid response to ours: whatever parses is refused by
        // integrity or FINGERPRINT; nothing throws, nothing is nominated.
        var agent = Agent();
        agent.AddRemoteCandidate(Candidate(Srflx, IceCandidateType.ServerReflexive));
        agent.Start();
        var check = BrowserCheck(useCandidate: true);
        var response = SuccessTo(_transport.Sent[0].Bytes, Srflx, BrowserPwd);
        var random = new Random(12);
        var buffer = new byte[256];
        for (var i = 0; i < 20_000; i++)
        {
            var original = i % 2 == 0 ? check : response;
            var mutated = (byte[])original.Clone();
            var flips = 1 + random.Next(3);
            for (var f = 0; f < flips; f++) mutated[20 + random.Next(mutated.Length - 20)] ^= (byte)(1 << random.Next(8));
            if (mutated.AsSpan().SequenceEqual(original) || !StunMessage.TryParse(mutated, out var m, out _)) continue; // flips that cancel
            if (m.Class == StunClass.Request) agent.HandleRequest(m, Srflx, buffer, out _);
            else agent.HandleResponse(m, null, Srflx);
        }
        Assert.NotEqual(IceState.Nominated, agent.State);
        Assert.Equal(IcePairState.InProgress, agent.Pairs[0].State);
    }

    [Theory]
    [InlineData("candidate:1 1 udp 2122260223 192.168.20.2 50000 typ host generation 0", IceCandidateType.Host)]
    [InlineData("a=candidate:2 1 UDP 1686052607 10.99.2.2 50000 typ srflx raddr 192.168.20.2 rport 50000", IceCandidateType.ServerReflexive)]
    [InlineData("3 1 udp 41885439 10.99.1.1 49170 typ relay raddr 10.99.2.2 rport 50000", IceCandidateType.Relayed)]
    [InlineData("candidate:4 1 udp 2122262783 2001:db8::5 50000 typ host", IceCandidateType.Host)]
    public void CandidateLine_Parses(string line, IceCandidateType type)
    {
        Assert.True(IceCandidate.TryParse(line, out var c));
        Assert.Equal(type, c.Type);
        Assert.True(IceCandidate.TryParse(c.ToString(), out var again));
        Assert.Equal(c, again);
    }

    [Theory]
    [InlineData("candidate:1 1 udp 2122260223 3c1e0d3a-2d1b.local 50000 typ host")] // mDNS: comes back as prflx
    [InlineData("candidate:1 1 tcp 1518280447 192.168.20.2 9 typ host tcptype active")]
    [InlineData("candidate:1 2 udp 2122260222 192.168.20.2 50001 typ host")]
    [InlineData("candidate:1 1 udp 2122260223 192.168.20.2 70000 typ host")]
    [InlineData("candidate:1 1 udp 2122260223 192.168.20.2 50000 typ bogus")]
    [InlineData("candidate:1 1 udp 2122260223 192.168.20.2")]
    [InlineData("")]
    public void CandidateLine_ThatCannotBePaired_IsRefused(string line) => Assert.False(IceCandidate.TryParse(line, out _));

    [Fact]
    public void CandidateLine_EveryPrefix_NeverThrows()
    {
        const string line = "candidate:2 1 udp 1686052607 10.99.2.2 50000 typ srflx raddr 192.168.20.2 rport 50000";
        for (var i = 0; i <= line.Length; i++)
        {
            var ok = IceCandidate.TryParse(line[..i], out _);
            Assert.Equal(i >= line.IndexOf("srflx", StringComparison.Ordinal) + 5, ok);
        }
    }

    // ---------------------------------------------------------------- helpers

    /// <summary>FakeTimeProvider sets the clock to the end of an Advance before timers fire: step in Ta-sized steps.</summary>
    private void Run(TimeSpan span)
    {
        for (var t = TimeSpan.Zero; t < span; t += TimeSpan.FromMilliseconds(50)) _time.Advance(TimeSpan.FromMilliseconds(50));
    }

    private IceAgent Nominated(out IceCandidatePair pair)
    {
        var agent = Agent();
        agent.AddRemoteCandidate(Candidate(Srflx, IceCandidateType.ServerReflexive));
        agent.Start();
        agent.HandleResponse(Parse(SuccessTo(_transport.Sent[0].Bytes, Srflx, BrowserPwd)), null, Srflx);
        Request(agent, BrowserCheck(useCandidate: true), Srflx, out _);
        Assert.Equal(IceState.Nominated, agent.State);
        pair = agent.SelectedPair!;
        return agent;
    }

    private static byte[] BrowserCheck(bool useCandidate, bool controlled = false, ulong tieBreaker = 0x1122334455667788)
    {
        var buffer = new byte[256];
        var w = new StunWriter(buffer, StunMethod.Binding, StunClass.Request, Guid.NewGuid().ToByteArray()[..12]);
        w.AddString(StunAttribute.Username, "gwUf:brUf");
        w.AddUInt32(StunAttribute.Priority, 1853824767);
        w.AddUInt64(controlled ? StunAttribute.IceControlled : StunAttribute.IceControlling, tieBreaker);
        if (useCandidate) w.AddFlag(StunAttribute.UseCandidate);
        w.AddMessageIntegrity(Encoding.UTF8.GetBytes(Ours.Pwd));
        w.AddFingerprint();
        return w.Written.ToArray();
    }

    private static IceCheckOutcome Request(IceAgent agent, byte[] request, IPEndPoint from, out byte[] response)
    {
        var buffer = new byte[256];
        var outcome = agent.HandleRequest(Parse(request), from, buffer, out var n);
        response = buffer[..n];
        return outcome;
    }

    private static StunMessage Parse(byte[] datagram)
    {
        Assert.True(StunMessage.TryParse(datagram, out var m, out var e), e.ToString());
        return m;
    }

    internal static byte[] SuccessTo(byte[] request, IPEndPoint mapped, string password)
    {
        var buffer = new byte[256];
        var w = new StunWriter(buffer, StunMethod.Binding, StunClass.SuccessResponse, request.AsSpan(8, 12));
        w.AddXorAddress(StunAttribute.XorMappedAddress, mapped);
        w.AddMessageIntegrity(Encoding.UTF8.GetBytes(password));
        w.AddFingerprint();
        return w.Written.ToArray();
    }

    private static byte[] ErrorTo(byte[] request, int code, string password)
    {
        var buffer = new byte[256];
        var w = new StunWriter(buffer, StunMethod.Binding, StunClass.ErrorResponse, request.AsSpan(8, 12));
        w.AddErrorCode(code, "Role Conflict");
        w.AddMessageIntegrity(Encoding.UTF8.GetBytes(password));
        w.AddFingerprint();
        return w.Written.ToArray();
    }

    private sealed class RecordingTransport : IIceTransport
    {
        public List<(IceBase Via, IPEndPoint To, byte[] Bytes)> Sent { get; } = [];
        public HashSet<StunTransactionId> Expected { get; } = [];

        public void Send(IceBase via, IPEndPoint to, ReadOnlySpan<byte> datagram) => Sent.Add((via, to, datagram.ToArray()));
        public void Expect(StunTransactionId id) => Expected.Add(id);
        public void Forget(StunTransactionId id) => Expected.Remove(id);
    }

    /// <summary>Delivers each datagram at once to the agent at the destination, and its response back.</summary>
    private sealed class InMemoryPeer(IPEndPoint address, Dictionary<IPEndPoint, IceAgent> net) : IIceTransport
    {
        public IPEndPoint Address { get; } = address;
        public IceBase Base { get; } = IceBase.Direct(IceCandidate.ComputePriority(IceCandidateType.Host, 65535));
        public IceAgent Agent { get; set; } = null!;

        public void Send(IceBase via, IPEndPoint to, ReadOnlySpan<byte> datagram)
        {
            Assert.True(StunMessage.TryParse(datagram, out var m, out _));
            var buffer = new byte[256];
            if (net[to].HandleRequest(m, Address, buffer, out var n) is IceCheckOutcome.Answered or IceCheckOutcome.AnsweredRoleConflict)
            {
                Assert.True(StunMessage.TryParse(buffer.AsSpan(0, n), out var response, out _));
                Agent.HandleResponse(response, null, to);
            }
        }

        public void Expect(StunTransactionId id) { }
        public void Forget(StunTransactionId id) { }
    }
}
