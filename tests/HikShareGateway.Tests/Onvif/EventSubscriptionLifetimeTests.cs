using HikShareGateway.Core.Devices;
using HikShareGateway.Onvif.Events;
using HikShareGateway.Onvif.Parsers;
using HikShareGateway.Onvif.Soap;
using HikShareGateway.Tests.Onvif.Simulator;

namespace HikShareGateway.Tests.Onvif;

/// <summary>
/// A camera whose clock is years behind and that grants 60 s subscriptions (asked for PT2M), answering Renew with
/// <c>ter:ActionNotSupported</c>: the responses below are written the way such a device answers.
/// </summary>
[Trait("Category", "Unit")]
public sealed class SubscriptionLifetimeTests
{
    private const string CreateResponse = """
        <env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing"
            xmlns:tev="http://www.onvif.org/ver10/events/wsdl" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2">
          <env:Body><tev:CreatePullPointSubscriptionResponse>
            <tev:SubscriptionReference><wsa:Address>http://192.0.2.10/onvif/event/subscription_7</wsa:Address></tev:SubscriptionReference>
            <wsnt:CurrentTime>2019-03-04T05:06:07Z</wsnt:CurrentTime>
            <wsnt:TerminationTime>2019-03-04T05:07:07Z</wsnt:TerminationTime>
          </tev:CreatePullPointSubscriptionResponse></env:Body>
        </env:Envelope>
        """;

    private const string RenewFault = """
        <env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error">
          <env:Body><env:Fault>
            <env:Code><env:Value>env:Receiver</env:Value><env:Subcode><env:Value>ter:ActionNotSupported</env:Value></env:Subcode></env:Code>
            <env:Reason><env:Text xml:lang="en">Optional Action Not Implemented</env:Text></env:Reason>
          </env:Fault></env:Body>
        </env:Envelope>
        """;

    private static readonly DateTimeOffset GatewayNow = new(2026, 12, 1, 8, 0, 0, TimeSpan.Zero);

    [Fact]
    public void DeviceClockYearsBehind_LifetimeIsTheDevicesOwnSpan_AndPullsEndBeforeIt()
    {
        var sub = EventParsers.ParseCreatePullPointSubscription(SoapEnvelope.ReadBody(System.Text.Encoding.UTF8.GetBytes(CreateResponse), "CreatePullPointSubscription"));
        var life = new SubscriptionLifetime(new PullPointTiming(), GatewayNow, sub.CurrentTime, sub.TerminationTime);

        Assert.Equal(TimeSpan.FromSeconds(60), life.Lifetime);
        Assert.Equal(GatewayNow.AddSeconds(60), life.Ends);
        // The configured pull (60 s) would run into the end: the first pull is shorter and nothing needs renewing yet.
        Assert.False(life.MustExtend(GatewayNow));
        var pull = life.PullTimeout(GatewayNow);
        Assert.InRange(pull, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60) - life.Margin);
        // Every pull, at any moment, ends at least the margin before the subscription does.
        for (var t = GatewayNow; t < life.Ends; t = t.AddSeconds(1))
        {
            if (!life.MustExtend(t))
            {
                Assert.True(t + life.PullTimeout(t) <= life.Ends - life.Margin, $"a pull at {t:T} runs past the margin");
            }
        }
        Assert.True(life.MustExtend(life.Ends - life.Margin));
    }

    [Fact]
    public void RenewFault_ActionNotSupported_IsRecognisedAsNotSupported()
    {
        var e = Assert.Throws<DeviceException>(() => SoapEnvelope.ReadBody(System.Text.Encoding.UTF8.GetBytes(RenewFault), "Renew"));
        Assert.True(e.Fault()?.IsNotSupported);
    }

    [Fact]
    public void Pulled_AnEarlierEndIsBelieved_ALaterOneIsNot()
    {
        var life = new SubscriptionLifetime(new PullPointTiming(), GatewayNow, GatewayNow.AddYears(-7), GatewayNow.AddYears(-7).AddSeconds(60));
        var device = GatewayNow.AddYears(-7);
        life.Pulled(GatewayNow.AddSeconds(10), device.AddSeconds(10), device.AddSeconds(10 + 120));
        Assert.Equal(GatewayNow.AddSeconds(60), life.Ends);
        life.Pulled(GatewayNow.AddSeconds(20), device.AddSeconds(20), device.AddSeconds(20 + 30));
        Assert.Equal(GatewayNow.AddSeconds(50), life.Ends);
        life.Renewed(GatewayNow.AddSeconds(40), device.AddSeconds(40), device.AddSeconds(100));
        Assert.Equal(GatewayNow.AddSeconds(100), life.Ends);
    }
}

/// <summary>The same device behaviour served by the ONVIF simulator, against the running event service.</summary>
[Trait("Category", "Unit")]
public sealed class ShortLivedSubscriptionEventTests : IAsyncLifetime
{
    private OnvifEventRig _rig = null!;

    // Clock six years behind, 3 s subscriptions whatever is asked, no Renew: the 60 s / PT2M case, compressed.
    public async Task InitializeAsync() => _rig = await OnvifEventRig.CreateAsync(
        new SimDevice { ClockSkew = -TimeSpan.FromDays(6 * 365), SubscriptionLifetime = TimeSpan.FromSeconds(3), RenewSupported = false },
        new PullPointTiming { PullTimeout = TimeSpan.FromSeconds(3), InitialTermination = TimeSpan.FromMinutes(2) }, "owner@example.com");

    public async Task DisposeAsync() => await _rig.DisposeAsync();

    [Fact]
    public async Task RenewNotSupported_ClockYearsOff_DeviceIsStillPulled_AndResubscribedBeforeEachSubscriptionEnds()
    {
        await _rig.Service.StartAsync(default);
        await Wait.UntilAsync(() => _rig.Sim.PullMessages >= 1, "a PullMessages", 10_000);

        // Three subscriptions in a row, each ended by the gateway (Unsubscribe counts only live ones) before the
        // device dropped it.
        await Wait.UntilAsync(() => _rig.Sim.Unsubscribes >= 2 && _rig.Sim.ActiveSubscriptions == 1, "two re-subscriptions", 20_000);
        Assert.Equal(1, _rig.Sim.RenewFaults); // learnt once, not tried on every subscription
        Assert.Equal(0, _rig.Sim.Renewals);

        // Alarms flow: a motion event raised now reaches the cloud (re-raised while a re-subscription may be in between).
        await Wait.UntilAsync(() =>
        {
            _rig.Sim.EmitMotion(1, on: true);
            return _rig.Cloud.On("alarms").Count >= 1;
        }, "the alarm", 10_000);
        Assert.Contains("\"kind\":\"motion\"", _rig.Cloud.On("alarms")[0].Payload);
    }
}
