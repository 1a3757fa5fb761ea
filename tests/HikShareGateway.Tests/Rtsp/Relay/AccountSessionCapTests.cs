using HikShareGateway.Core.Access;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Streaming;
using HikShareGateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using static HikShareGateway.Tests.Access.AccessTestKit;
using static HikShareGateway.Tests.Rtsp.Relay.RelayHarness;

namespace HikShareGateway.Tests.Rtsp.Relay;

/// <summary>
/// Issue 17: one account (one leaked token, one runaway recorder) cannot take every session of the gateway.
/// <c>Limits:SessionsPerAccount</c> caps RTSP and fMP4 sessions together; past it the account gets 503 while another
/// account still plays, and a session that ends gives its slot back. Through the host's composition (RelayHarness).
/// </summary>
[Trait("Category", "Unit")]
public sealed class AccountSessionCapTests
{
    private const int Cap = 3;

    private static Options Capped() => new() { Settings = new Dictionary<string, string?> { ["Limits:SessionsPerAccount"] = Cap.ToString(System.Globalization.CultureInfo.InvariantCulture) } };

    [Fact]
    public async Task OneAccountOpensCapPlusOne_LastGets503_OtherAccountStillPlays_PlayingOnesUntouched_SlotBackOnClose()
    {
        await using var h = await StartAsync(Capped());
        h.Grant(LiveShare(Bob, id: "sh-bob"), LiveShare(Carol, id: "sh-carol"));
        var bob = new List<RtspTestClient>();
        try
        {
            for (var i = 0; i < Cap; i++)
            {
                var c = await RtspTestClient.ConnectAsync(h.Port);
                bob.Add(c);
                Assert.Equal(200, (await c.PlayAsync(h.Url(token: Token(Bob)))).Play.StatusCode);
            }

            // :: Cap + 1: refused before any media is opened, with the reason, and the connection closed.
            await using (var extra = await RtspTestClient.ConnectAsync(h.Port))
            {
                var describe = await extra.SendAsync("DESCRIBE", h.Url(token: Token(Bob)));
                Assert.Equal(503, describe.StatusCode);
                Assert.Contains($"maximum of {Cap} sessions", describe.Body + describe.Reason + describe.Header("X-Reason"), StringComparison.Ordinal);
                Assert.True(await extra.WaitClosedAsync(TimeSpan.FromSeconds(10)), "the refused connection stays open");
            }
            var limiter = h.Services.GetRequiredService<AccountSessionLimiter>();
            Assert.Equal(1, limiter.Refused);
            Assert.Equal(Cap, limiter.Held(Bob));

            // :: Another account plays meanwhile, and Bob's sessions still get media.
            await using var carol = await RtspTestClient.ConnectAsync(h.Port);
            Assert.Equal(200, (await carol.PlayAsync(h.Url(token: Token(Carol)))).Play.StatusCode);
            Assert.NotEmpty(await carol.ReadPacketsAsync(5, TimeSpan.FromSeconds(10)));
            foreach (var c in bob)
            {
                Assert.NotEmpty(await c.ReadPacketsAsync(5, TimeSpan.FromSeconds(10)));
            }

            // :: fMP4 shares the counter: Bob is refused there too (503 before the device is asked), Carol is not.
            var mp4 = h.Services.GetRequiredService<IMp4Streams>();
            var refused = await mp4.OpenLiveAsync(new Mp4LiveRequest(Bob, Device, 1, StreamKind.Main, "127.0.0.1:1"), default);
            Assert.Equal(Mp4OpenStatus.Unavailable, refused.Status);
            Assert.Contains($"maximum of {Cap} sessions", refused.Detail, StringComparison.Ordinal);
            var carolMp4 = await mp4.OpenLiveAsync(new Mp4LiveRequest(Carol, Device, 1, StreamKind.Main, "127.0.0.1:2"), default);
            Assert.Equal(Mp4OpenStatus.Ok, carolMp4.Status);
            Assert.Equal(2, limiter.Held(Carol));
            await carolMp4.Stream!.DisposeAsync();
            Assert.Equal(1, limiter.Held(Carol));

            // :: One of Bob's sessions ends: its slot comes back and Bob plays again.
            await bob[0].DisposeAsync();
            bob.RemoveAt(0);
            await Wait.UntilAsync(() => limiter.Held(Bob) == Cap - 1, "the closed session's slot to come back");
            var again = await RtspTestClient.ConnectAsync(h.Port);
            bob.Add(again);
            Assert.Equal(200, (await again.PlayAsync(h.Url(token: Token(Bob)))).Play.StatusCode);
        }
        finally
        {
            foreach (var c in bob)
            {
                await c.DisposeAsync();
            }
        }
    }
}
