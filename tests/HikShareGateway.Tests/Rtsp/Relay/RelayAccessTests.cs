using HikShareGateway.Tests.Infrastructure;
using System.Diagnostics;
using HikShareGateway.Core.Access;
using HikShareGateway.Access.Grants;
using HikShareGateway.Rtsp.Protocol;
using static HikShareGateway.Tests.Access.AccessTestKit;
using static HikShareGateway.Tests.Rtsp.Relay.RelayHarness;

namespace HikShareGateway.Tests.Rtsp.Relay;

/// <summary>Contract §4 on RTSP: 401 for who, 403 for what, audit, and revocation of running sessions.</summary>
[Trait("Category", "Unit")]
public sealed class RelayAccessTests
{
    [Fact]
    public async Task Describe_NoCredentials_401WithBasicChallenge()
    {
        await using var h = await StartAsync();
        h.Grant(LiveShare(Bob));
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        var r = await c.RequestAsync("DESCRIBE", h.Url());
        Assert.Equal(401, r.StatusCode);
        Assert.Equal("Basic realm=\"HikShareGateway\"", r.Header("WWW-Authenticate"));
        Assert.Equal(0, h.Camera!.Plays);
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("expired")]
    [InlineData("audience")]
    [InlineData("tampered")]
    [InlineData("otherkey")]
    public async Task Describe_BadToken_401(string kind)
    {
        await using var h = await StartAsync();
        h.Grant(LiveShare(Bob));
        var good = Token(Bob);
        var token = kind switch
        {
            "garbage" => "not-a-token",
            "expired" => HikShareGateway.Access.Tokens.ViewerTokens.Mint(Key, Bob, [GatewayId], TimeSpan.FromMinutes(1), DateTimeOffset.UtcNow.AddHours(-1)),
            "audience" => Token(Bob, audience: "gw-other"),
            "tampered" => good[..^4] + (good[^4] == 'A' ? "B" : "A") + good[^3..],
            _ => HikShareGateway.Access.Tokens.ViewerTokens.Mint(OtherKey, Bob, [GatewayId], TimeSpan.FromHours(1), DateTimeOffset.UtcNow),
        };
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        var r = await c.RequestAsync("DESCRIBE", h.Url(token: token));
        Assert.Equal(401, r.StatusCode);
        Assert.Equal(0, h.Camera!.Plays);
    }

    [Fact]
    public async Task RepeatedBadTokens_FromOneAddress_AreToldTooManyFailures_AGoodTokenFromItStillPlays()
    {
        await using var h = await StartAsync(new Options { AuthFailureLimit = 3 });
        h.Grant(LiveShare(Bob));
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(401, (await c.RequestAsync("DESCRIBE", h.Url(token: "forged." + i))).StatusCode);
        }
        var limited = await c.RequestAsync("DESCRIBE", h.Url(token: "forged.3"));
        Assert.Equal(401, limited.StatusCode);
        Assert.Contains("too many failed authentications", limited.Body);
        Assert.Equal(0, h.Camera!.Plays);
        // Someone else behind the same address, with a valid token: not locked out.
        Assert.Equal(200, (await c.RequestAsync("DESCRIBE", h.Url(token: Token(Bob)))).StatusCode);
    }

    [Fact]
    public async Task Describe_BasicUserDifferentFromSub_401()
    {
        await using var h = await StartAsync();
        h.Grant(LiveShare(Bob));
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        var basic = "Basic " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("mallory@example.com:" + Token(Bob)));
        var r = await c.RequestAsync("DESCRIBE", h.Url(), ("Authorization", basic));
        Assert.Equal(401, r.StatusCode);
    }

    [Fact]
    public async Task Describe_BasicAndBearer_Accepted()
    {
        await using var h = await StartAsync();
        h.Grant(LiveShare(Bob));
        await using (var c = await RtspTestClient.ConnectAsync(h.Port))
        {
            // Percent-encoded user as some players send it from the URL's user info.
            var basic = "Basic " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("bob%40example.com:" + Token(Bob)));
            Assert.Equal(200, (await c.RequestAsync("DESCRIBE", h.Url(), ("Authorization", basic))).StatusCode);
        }
        await using (var c = await RtspTestClient.ConnectAsync(h.Port))
        {
            Assert.Equal(200, (await c.RequestAsync("DESCRIBE", h.Url(), ("Authorization", "Bearer " + Token(Bob)))).StatusCode);
        }
    }

    [Theory]
    [InlineData("/live/" + Device + "/1/main", Privilege.Playback)]          // share without liveView
    [InlineData("/live/" + Device + "/2/main", Privilege.LiveView)]          // channel 2 not shared (share holds channel 1 only)
    [InlineData("/live/DS-UNKNOWN-0000/1/main", Privilege.LiveView)]         // a device that does not exist: same 403
    [InlineData("/live/" + OtherNvr + "/1/main", Privilege.LiveView)]        // a device of someone else
    public async Task Describe_ValidTokenWithoutPrivilege_403AndAuditedDeny(string path, Privilege granted)
    {
        await using var h = await StartAsync();
        h.Grant(LiveShare(Bob, granted, "sh-1", 1));
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        var r = await c.RequestAsync("DESCRIBE", h.Url(path, Token(Bob)));
        Assert.Equal(403, r.StatusCode);
        Assert.Empty(r.Body); // nothing that tells whether the device exists
        var deny = Assert.Single(h.Audit.Events);
        Assert.Equal(AuditDecision.Deny, deny.Decision);
        Assert.Equal(Bob, deny.Account);
        Assert.Equal(Privilege.LiveView, deny.Action);
        Assert.Equal(0, h.Camera!.Plays);
    }

    [Theory]
    [InlineData(ShareState.Pending)]
    [InlineData(ShareState.Rejected)]
    [InlineData(ShareState.Deleted)]
    public async Task Describe_ShareNotAccepted_403(ShareState state)
    {
        await using var h = await StartAsync();
        h.Grant(Share("sh-1", Bob, state, On(Device, Privilege.All)));
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        Assert.Equal(403, (await c.RequestAsync("DESCRIBE", h.Url(token: Token(Bob)))).StatusCode);
    }

    [Fact]
    public async Task NoGrantsEverReceived_OwnerToo_403()
    {
        await using var h = await StartAsync();
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        Assert.Equal(403, (await c.RequestAsync("DESCRIBE", h.Url(token: Token(Owner)))).StatusCode);
    }

    [Fact]
    public async Task Owner_HasEveryChannel()
    {
        await using var h = await StartAsync();
        h.Grant();
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        var (_, play) = await c.PlayAsync(h.Url("/live/" + Device + "/2", Token(Owner)));
        Assert.Equal(200, play.StatusCode);
        Assert.NotEmpty(await c.ReadPacketsAsync(5, TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Play_Allowed_AuditsAllowThenEnd()
    {
        await using var h = await StartAsync();
        h.Grant(LiveShare(Bob));
        await using (var c = await RtspTestClient.ConnectAsync(h.Port))
        {
            var (_, play) = await c.PlayAsync(h.Url(token: Token(Bob)));
            Assert.Equal(200, play.StatusCode);
            Assert.NotEmpty(await c.ReadPacketsAsync(3, TimeSpan.FromSeconds(10)));
            Assert.Single(h.Registry.ActiveSessions);
        }
        await Wait.UntilAsync(() => h.Audit.Events.Any(e => e.Decision == AuditDecision.End), "h.Audit.Events.Any(e => e.Decision == AuditDecision.End)");
        var events = h.Audit.Events.ToArray();
        Assert.Equal([AuditDecision.Allow, AuditDecision.End], events.Select(e => e.Decision));
        Assert.All(events, e => Assert.Equal(events[0].SessionId, e.SessionId));
        Assert.StartsWith("127.0.0.1:", events[0].Remote);
        Assert.Empty(h.Registry.ActiveSessions);
    }

    [Fact]
    public async Task Revoke_ShareDeleted_ClosesLiveSessionWithin100ms()
    {
        await using var h = await StartAsync();
        h.Grant(LiveShare(Bob), LiveShare(Carol, id: "sh-2"));
        await using var bob = await RtspTestClient.ConnectAsync(h.Port);
        await using var carol = await RtspTestClient.ConnectAsync(h.Port);
        Assert.Equal(200, (await bob.PlayAsync(h.Url(token: Token(Bob)))).Play.StatusCode);
        Assert.Equal(200, (await carol.PlayAsync(h.Url(token: Token(Carol)))).Play.StatusCode);
        Assert.NotEmpty(await bob.ReadPacketsAsync(3, TimeSpan.FromSeconds(10)));

        var closed = bob.WaitClosedAsync(TimeSpan.FromSeconds(5));
        var closedAt = closed.ContinueWith(_ => Stopwatch.GetTimestamp(), TaskContinuationOptions.ExecuteSynchronously);
        // From the signed message reaching the store (verify, apply, cut) to the viewer seeing the close; the state
        // file is written after the cut and is not part of it.
        var start = Stopwatch.GetTimestamp();
        Assert.Equal(GrantApplyOutcome.Applied, h.Grant(LiveShare(Carol, id: "sh-2")).Outcome); // sh-1 gone
        Assert.True(await closed, "the revoked viewer's connection was not closed");
        var elapsed = Stopwatch.GetElapsedTime(start, await closedAt);
        Assert.True(elapsed < TimeSpan.FromMilliseconds(100), $"closed after {elapsed.TotalMilliseconds:0} ms");

        var revoked = Assert.Single(h.Audit.Events, e => e.Decision == AuditDecision.Revoked);
        Assert.Equal(Bob, revoked.Account);
        // The other viewer is untouched.
        Assert.Equal(10, (await carol.ReadPacketsAsync(10, TimeSpan.FromSeconds(10))).Count);
        await Wait.UntilAsync(() => h.Registry.ActiveSessions.Count == 1, "h.Registry.ActiveSessions.Count == 1");
        Assert.DoesNotContain(h.Audit.Events, e => e.Decision == AuditDecision.End && e.Account == Bob);
    }

    [Fact]
    public async Task Revoke_ChannelRemovedFromShare_ClosesSession()
    {
        await using var h = await StartAsync();
        h.Grant(LiveShare(Bob, Privilege.LiveView, "sh-1", 1, 2));
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        Assert.Equal(200, (await c.PlayAsync(h.Url("/live/" + Device + "/2/main", Token(Bob)))).Play.StatusCode);
        h.Grant(LiveShare(Bob, Privilege.LiveView, "sh-1", 1));
        Assert.True(await c.WaitClosedAsync(TimeSpan.FromSeconds(2)));
    }

    [Fact]
    public async Task Expiry_ShareExpires_SessionCutWithoutAMessage()
    {
        await using var h = await StartAsync();
        var expires = DateTimeOffset.UtcNow.AddSeconds(1.5);
        h.Grant(new Share("sh-1", Owner, Bob, "t", ShareState.Accepted, expires, [On(Device, Privilege.LiveView)]));
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        Assert.Equal(200, (await c.PlayAsync(h.Url(token: Token(Bob)))).Play.StatusCode);
        Assert.True(await c.WaitClosedAsync(TimeSpan.FromSeconds(5)));
        Assert.True(DateTimeOffset.UtcNow >= expires);
        // The expiry timer cuts the session first and records the audit event right after.
        await Wait.UntilAsync(() => h.Audit.Events.Any(e => e.Decision == AuditDecision.Revoked), "h.Audit.Events.Any(e => e.Decision == AuditDecision.Revoked)");
    }

    [Fact]
    public async Task SecondRequestWithoutToken_UsesTheConnectionsIdentity_ButAnotherAccountIs403()
    {
        await using var h = await StartAsync();
        h.Grant(LiveShare(Bob), LiveShare(Carol, id: "sh-2"));
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        Assert.Equal(200, (await c.RequestAsync("DESCRIBE", h.Url(token: Token(Bob)))).StatusCode);
        // ffmpeg's SETUP URL may lose the query: the connection remembers who authenticated.
        var setup = await c.RequestAsync("SETUP", h.Url() + "/trackID=0", ("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1"));
        Assert.Equal(200, setup.StatusCode);
        var play = await c.RequestAsync("PLAY", h.Url(token: Token(Carol)), ("Session", setup.Header("Session")!.Split(';')[0]));
        Assert.Equal(403, play.StatusCode);
    }
}
