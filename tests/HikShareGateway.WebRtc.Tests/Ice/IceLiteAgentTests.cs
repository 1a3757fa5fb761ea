using System.Net;
using System.Text;
using HikShareGateway.WebRtc.Diagnostics;
using HikShareGateway.WebRtc.Ice;
using HikShareGateway.WebRtc.Stun;
using Microsoft.Extensions.Time.Testing;
using static HikShareGateway.WebRtc.Tests.Ice.IceTestKit;

namespace HikShareGateway.WebRtc.Tests.Ice;

[Trait("Category", "Unit")]
public sealed class IceLiteAgentTests
{
    private static readonly IceCredentials Ours = new("gwUf", "gatewaypassword1234567890");
    private readonly FakeTimeProvider _time = new();
    private readonly DropCounters _drops = new();

    private IceLiteAgent Agent() => new(Ours, "brUf", _time, _drops);

    private static IceCheckOutcome Handle(IceLiteAgent agent, byte[] request, IPEndPoint from, out byte[] response)
    {
        Assert.True(StunMessage.TryParse(request, out var message, out var error), error.ToString());
        var buffer = new byte[256];
        var outcome = agent.HandleRequest(message, from, buffer, out var n);
        response = buffer[..n];
        return outcome;
    }

    [Fact]
    public void ValidCheck_IsAnsweredWithTheBrowsersAddressUnderOurPassword()
    {
        var agent = Agent();
        var tx = Enumerable.Range(1, 12).Select(i => (byte)i).ToArray();
        Assert.Equal(IceCheckOutcome.Answered, Handle(agent, Check("gwUf:brUf", Ours.Pwd, false, tx), Browser, out var response));
        Assert.True(StunMessage.TryParse(response, out var m, out _));
        Assert.Equal(StunClass.SuccessResponse, m.Class);
        Assert.Equal(tx, m.TransactionId.ToArray());
        Assert.True(m.HasFingerprint);
        Assert.True(m.VerifyIntegrity(Encoding.UTF8.GetBytes(Ours.Pwd)));
        Assert.True(m.TryGetXorMappedAddress(out var mapped));
        Assert.Equal(Browser, mapped);
        Assert.Equal(IceState.Connected, agent.State);
        Assert.Equal(Browser, agent.SelectedRemote);
    }

    [Fact]
    public void UseCandidate_NominatesThatPair()
    {
        var agent = Agent();
        var states = new List<IceState>();
        agent.StateChanged += states.Add;
        var other = IPEndPoint.Parse("198.51.100.7:40000");
        Handle(agent, Check("gwUf:brUf", Ours.Pwd, false), other, out _);
        Handle(agent, Check("gwUf:brUf", Ours.Pwd, true), Browser, out _);
        Assert.Equal(IceState.Nominated, agent.State);
        Assert.Equal(Browser, agent.SelectedRemote);
        Assert.Equal([IceState.Connected, IceState.Nominated], states);
    }

    [Fact]
    public void BeforeNomination_RepliesFollowTheBrowserToAnotherValidatedAddressOnly()
    {
        var agent = Agent();
        var other = IPEndPoint.Parse("198.51.100.7:40000");
        Handle(agent, Check("gwUf:brUf", Ours.Pwd, false), Browser, out _);
        Handle(agent, Check("gwUf:brUf", Ours.Pwd, false), other, out _);
        Assert.Equal(Browser, agent.SelectedRemote);
        agent.PreferRemoteBeforeNomination(IPEndPoint.Parse("203.0.113.1:1")); // never validated
        Assert.Equal(Browser, agent.SelectedRemote);
        agent.PreferRemoteBeforeNomination(other);
        Assert.Equal(other, agent.SelectedRemote);
        Handle(agent, Check("gwUf:brUf", Ours.Pwd, true), Browser, out _);
        agent.PreferRemoteBeforeNomination(other); // nominated: fixed
        Assert.Equal(Browser, agent.SelectedRemote);
    }

    [Fact]
    public void WrongPasswordOrUsername_IsNotAnsweredAndIsCounted()
    {
        var agent = Agent();
        Assert.Equal(IceCheckOutcome.BadIntegrity, Handle(agent, Check("gwUf:brUf", "not-the-password-at-all!", true), Browser, out var r1));
        Assert.Empty(r1);
        Assert.Equal(IceCheckOutcome.WrongUsername, Handle(agent, Check("gwUf:someoneElse", Ours.Pwd, true), Browser, out var r2));
        Assert.Empty(r2);
        Assert.Equal(IceState.New, agent.State);
        Assert.Null(agent.SelectedRemote);
        Assert.Equal(1, _drops[DropReason.StunBadIntegrity]);
        Assert.Equal(1, _drops[DropReason.StunUnknownUsername]);
    }

    [Fact]
    public void CheckWithoutFingerprint_IsNotACheck()
    {
        var buffer = new byte[256];
        var w = new StunWriter(buffer, StunMethod.Binding, StunClass.Request, new byte[12]);
        w.AddString(StunAttribute.Username, "gwUf:brUf");
        w.AddMessageIntegrity(Encoding.UTF8.GetBytes(Ours.Pwd));
        Assert.Equal(IceCheckOutcome.BadIntegrity, Handle(Agent(), w.Written.ToArray(), Browser, out _));
    }

    [Fact]
    public void UnknownComprehensionRequiredAttribute_IsAnswered420()
    {
        var agent = Agent();
        Assert.Equal(IceCheckOutcome.AnsweredUnknownAttribute, Handle(agent, Check("gwUf:brUf", Ours.Pwd, true, extraAttribute: 0x7F33), Browser, out var response));
        Assert.True(StunMessage.TryParse(response, out var m, out _));
        Assert.Equal(StunClass.ErrorResponse, m.Class);
        Assert.True(m.TryGetErrorCode(out var code, out _));
        Assert.Equal(420, code);
        Assert.Equal(IceState.New, agent.State);
    }

    [Fact]
    public void Consent_LapsesThirtySecondsAfterTheLastCheckOnTheSelectedPair()
    {
        var agent = Agent();
        Handle(agent, Check("gwUf:brUf", Ours.Pwd, true), Browser, out _);
        _time.Advance(TimeSpan.FromSeconds(25));
        Assert.Equal(IceState.Nominated, agent.CheckConsent());
        Handle(agent, Check("gwUf:brUf", Ours.Pwd, false), Browser, out _); // the browser's consent check
        _time.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(IceState.Nominated, agent.CheckConsent());
        // Checks from another address do not refresh the selected pair's consent.
        Handle(agent, Check("gwUf:brUf", Ours.Pwd, false), IPEndPoint.Parse("198.51.100.7:40000"), out _);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(IceState.Closed, agent.CheckConsent());
        Assert.Equal(IceCheckOutcome.Closed, Handle(agent, Check("gwUf:brUf", Ours.Pwd, true), Browser, out _));
    }

    [Fact]
    public void BrowserThatNeverChecks_ClosesTheSessionAfterTheConsentTimeout()
    {
        var agent = Agent();
        _time.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(IceState.New, agent.CheckConsent());
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(IceState.Closed, agent.CheckConsent());
    }

    [Fact]
    public void GeneratedCredentials_AreIceCharsOfTheRfcLengths()
    {
        var c = IceCredentials.Generate();
        Assert.Equal(8, c.Ufrag.Length);
        Assert.Equal(24, c.Pwd.Length);
        Assert.All(c.Ufrag + c.Pwd, ch => Assert.True(char.IsAsciiLetterOrDigit(ch) || ch is '+' or '/'));
        Assert.NotEqual(c, IceCredentials.Generate());
    }

    [Fact]
    public void Options_ReportEveryErrorAtOnce()
    {
        var errors = new WebRtcOptions { UdpPort = 70000, RtpMtu = 100, ConsentTimeout = TimeSpan.FromSeconds(1), AdditionalHosts = ["", "ok.example.com", "bad host!"] }.Validate();
        Assert.Equal(5, errors.Count);
        Assert.Empty(new WebRtcOptions { AdditionalHosts = ["203.0.113.9", "cam.example.com"] }.Validate());
    }

    [Fact]
    public void HostCandidates_HaveDistinctDescendingPrioritiesOnTheMuxPort()
    {
        var list = HostCandidates.For(["192.0.2.10", "2001:db8::10", "gw.example.com", "192.0.2.10"], 8189);
        Assert.Equal(3, list.Count);
        Assert.Equal("candidate:1 1 udp 2130706431 192.0.2.10 8189 typ host", list[0].ToString());
        Assert.True(list[0].Priority > list[1].Priority && list[1].Priority > list[2].Priority);
    }
}
