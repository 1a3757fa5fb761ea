using System.Text.Json;
using HikShareGateway.Core.Alarms;
using HikShareGateway.Core.Devices;
using HikShareGateway.Onvif.Events;
using HikShareGateway.Onvif.Parsers;
using HikShareGateway.Onvif.Soap;
using HikShareGateway.Tests.Infrastructure;
using HikShareGateway.Tests.Onvif.Simulator;
using Microsoft.Extensions.Logging.Abstractions;

namespace HikShareGateway.Tests.Onvif;

[Trait("Category", "Unit")]
public sealed class AlarmMappingTests
{
    private static NotificationMessage Msg(string topic, (string, string)[] source, (string, string)[] data, string? op = "Changed") =>
        new(topic, new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero), op,
            [.. source.Select(s => new KeyValuePair<string, string>(s.Item1, s.Item2))], [.. data.Select(s => new KeyValuePair<string, string>(s.Item1, s.Item2))]);

    [Theory]
    [InlineData("tns1:VideoSource/MotionAlarm", "Source", "VideoSource_1", "State", "true", "motion", "start")]
    [InlineData("tns1:VideoSource/MotionAlarm", "Source", "VideoSource_1", "State", "false", "motion", "stop")]
    [InlineData("tns1:RuleEngine/CellMotionDetector/Motion", "VideoSourceConfigurationToken", "VideoSourceToken", "IsMotion", "true", "motion", "start")]
    [InlineData("tns1:RuleEngine/LineDetector/Crossed", "VideoSourceConfigurationToken", "VideoSourceToken", "ObjectId", "3", "lineCrossing", "pulse")]
    [InlineData("tns1:RuleEngine/FieldDetector/ObjectsInside", "VideoSourceConfigurationToken", "VideoSourceToken", "IsInside", "true", "intrusion", "start")]
    [InlineData("tns1:RuleEngine/TamperDetector/Tamper", "VideoSourceConfigurationToken", "VideoSourceToken", "IsTamper", "true", "tamper", "start")]
    [InlineData("tns1:VideoSource/SignalLoss", "Source", "VideoSource_2", "State", "true", "videoLoss", "start")]
    [InlineData("tns1:Device/Trigger/DigitalInput", "InputToken", "AlarmIn_1", "LogicalState", "true", "alarmInput", "start")]
    [InlineData("tns1:Device/Trigger/tnshik:AlarmIn", "AlarmInToken", "AlarmIn_1", "State", "false", "alarmInput", "stop")]
    public void Topic_MapsToContractKindAndState(string topic, string sourceName, string sourceValue, string dataName, string dataValue, string kind, string state)
    {
        Assert.True(AlarmMapping.TryMap(Msg(topic, [(sourceName, sourceValue)], [(dataName, dataValue)]), out var a));
        Assert.Equal(kind, a.Kind);
        Assert.Equal(state, a.State);
        Assert.Equal(sourceValue, a.SourceToken);
    }

    [Theory]
    [InlineData("tns1:Monitoring/ProcessorUsage", "Value", "73")]
    [InlineData("tns1:Monitoring/OperatingTime/LastReboot", "Status", "2026-11-25T10:00:00Z")]
    [InlineData("tns1:Device/HardwareFailure/StorageFailure", "Failed", "true")]
    [InlineData("tns1:VideoSource/ImageTooDark/ImagingService", "State", "true")]
    [InlineData("tns1:NetworkInterface/LinkStatus", "State", "false")]
    public void RoutineMonitoring_IsNotAnAlarm(string topic, string name, string value) =>
        Assert.False(AlarmMapping.TryMap(Msg(topic, [("Source", "x")], [(name, value)]), out _));

    [Fact]
    public void HikvisionFixture_InitializedInactiveStates_AreNotAlarms_ButTopicsAreRecognised()
    {
        var pulled = EventParsers.ParsePullMessages(SoapEnvelope.ReadBody(TestData.Bytes("onvif", "hikvision-events", "pull_messages.xml"), "PullMessages"));
        Assert.DoesNotContain(pulled.Messages, m => AlarmMapping.TryMap(m, out _));
        // The same messages as changes (not the initial sync) with the state raised are alarms of the right kinds.
        var raised = pulled.Messages.Select(m => m with
        {
            PropertyOperation = "Changed",
            Data = [.. m.Data.Select(d => new KeyValuePair<string, string>(d.Key, d.Value == "false" ? "true" : d.Value))],
        }).ToList();
        var kinds = raised.Select(m => AlarmMapping.TryMap(m, out var a) ? $"{a.Kind}:{a.SourceToken}" : null).OfType<string>().ToList();
        Assert.Equal(["motion:VideoSource_1", "motion:VideoSourceToken", "tamper:VideoSourceToken", "intrusion:VideoSourceToken"], kinds);
    }

    [Fact]
    public void Debouncer_SameAlarmWithinWindow_PassesOnce()
    {
        var d = new AlarmDebouncer(TimeSpan.FromSeconds(5));
        var t = new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);
        Assert.True(d.ShouldPass("dev", 1, "motion", "start", t));
        Assert.False(d.ShouldPass("dev", 1, "motion", "start", t.AddSeconds(1)));
        Assert.True(d.ShouldPass("dev", 1, "motion", "stop", t.AddSeconds(1)));
        Assert.True(d.ShouldPass("dev", 2, "motion", "start", t.AddSeconds(1)));
        Assert.True(d.ShouldPass("dev", 1, "motion", "start", t.AddSeconds(6)));
    }

    [Fact]
    public void Router_WithRecipients_PublishesToCloudAndFeed_AndCountsTheMetric_WithoutRecipients_Drops()
    {
        var policy = new FakeAccessPolicy();
        policy.Recipients[("DS-1", 1)] = ["owner@example.com"];
        var cloud = new RecordingCloudPublisher();
        var router = new AlarmRouter(policy, cloud, new AlarmFeed(), NullLogger<AlarmRouter>.Instance);
        long counted = 0;
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (i, l) => { if (i.Name == "hikshare_alarms") { l.EnableMeasurementEvents(i); } };
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) =>
        {
            foreach (var t in tags)
            {
                if (t.Key == "kind" && (string?)t.Value == "tamper-test")
                {
                    Interlocked.Add(ref counted, v);
                }
            }
        });
        listener.Start();
        var at = new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);
        Assert.True(router.Route(new AlarmEvent("DS-1", 1, "tamper-test", "start", at)));
        Assert.False(router.Route(new AlarmEvent("DS-1", 2, "tamper-test", "start", at)));
        Assert.Single(cloud.On("alarms"));
        Assert.Equal(1, Interlocked.Read(ref counted));
    }

    [Fact]
    public void AlarmJson_HasContractShape()
    {
        var json = System.Text.Encoding.UTF8.GetString(AlarmRouter.ToJson(new AlarmEvent("DS-1", 2, "lineCrossing", "pulse", new DateTimeOffset(2026, 11, 25, 10, 0, 1, 500, TimeSpan.Zero)), ["owner@example.com", "bob@example.com"]));
        Assert.Equal("{\"deviceId\":\"DS-1\",\"channel\":2,\"kind\":\"lineCrossing\",\"state\":\"pulse\",\"at\":\"2026-11-25T10:00:01.500Z\",\"recipients\":[\"owner@example.com\",\"bob@example.com\"]}", json);
    }
}

/// <summary>PullPoint subscriptions against the simulator: motion on the device becomes a routed alarm.</summary>
[Trait("Category", "Unit")]
public sealed class EventServiceTests : IAsyncLifetime
{
    private OnvifEventRig _rig = null!;

    public async Task InitializeAsync() => _rig = await OnvifEventRig.CreateAsync(null,
        new PullPointTiming { PullTimeout = TimeSpan.FromSeconds(2), InitialTermination = TimeSpan.FromSeconds(15) }, "owner@example.com", "bob@example.com");

    public async Task DisposeAsync() => await _rig.DisposeAsync();

    [Fact]
    public async Task MotionOnDevice_PublishesAlarmWithRecipients_ToCloudAndFeed_DebouncesRepeats_UnsubscribesAtStop()
    {
        using var feedCts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var bobAlarms = new List<AlarmEvent>();
        var feedTask = Task.Run(async () =>
        {
            await foreach (var a in _rig.Feed.SubscribeAsync("bob@example.com", feedCts.Token))
            {
                lock (bobAlarms) { bobAlarms.Add(a); }
            }
        });
        await _rig.Service.StartAsync(default);
        await Wait.UntilAsync(() => _rig.Sim.ActiveSubscriptions == 1 && _rig.Feed.SubscriberCount == 1, "a subscription", 10_000);

        _rig.Sim.EmitMotion(1, on: true);
        _rig.Sim.EmitMotion(1, on: true); // a repeat within the debounce window
        await Wait.UntilAsync(() => _rig.Cloud.On("alarms").Count >= 1, "the alarm", 10_000);
        _rig.Sim.EmitMotion(1, on: false);
        await Wait.UntilAsync(() => _rig.Cloud.On("alarms").Count >= 2, "the stop", 10_000);
        _rig.Sim.EmitMotion(2, on: true); // channel 2: nobody may receive it
        _rig.Sim.Emit("tns1:Monitoring/ProcessorUsage", [("Token", "Processor")], [("Value", "97")]);
        // The marker: an alarm that does pass, queued after the two that must not. Events are pulled and routed in
        // order, so once it is published the two before it were seen and dropped.
        _rig.Sim.Emit("tns1:VideoSource/SignalLoss", [("Source", OnvifSimulator.SourceToken(1))], [("State", "true")]);
        await Wait.UntilAsync(() => _rig.Cloud.On("alarms").Count >= 3, "the marker alarm", 10_000);

        var alarms = _rig.Cloud.On("alarms");
        Assert.Equal(3, alarms.Count);
        Assert.Contains("\"kind\":\"videoLoss\"", alarms[2].Payload);
        Assert.All(alarms, a => Assert.False(a.Retain));
        using var first = JsonDocument.Parse(alarms[0].Payload);
        Assert.Equal(_rig.Sim.Device.Serial, first.RootElement.GetProperty("deviceId").GetString());
        Assert.Equal(1, first.RootElement.GetProperty("channel").GetInt32());
        Assert.Equal("motion", first.RootElement.GetProperty("kind").GetString());
        Assert.Equal("start", first.RootElement.GetProperty("state").GetString());
        Assert.Equal(["owner@example.com", "bob@example.com"], first.RootElement.GetProperty("recipients").EnumerateArray().Select(r => r.GetString()));
        Assert.InRange(DateTimeOffset.Parse(first.RootElement.GetProperty("at").GetString()!), DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddSeconds(5));
        Assert.Contains("\"state\":\"stop\"", alarms[1].Payload);
        await Wait.UntilAsync(() => { lock (bobAlarms) { return bobAlarms.Count == 3; } }, "bob's feed", 5_000);

        await _rig.Service.StopAsync(default);
        Assert.Equal(1, _rig.Sim.Unsubscribes);
        await feedCts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => feedTask);
    }

    [Fact]
    public async Task SubscriptionLost_Resubscribes_AndRenewsBeforeTermination()
    {
        await _rig.Service.StartAsync(default);
        await Wait.UntilAsync(() => _rig.Sim.ActiveSubscriptions == 1, "a subscription", 10_000);
        _rig.Sim.DropSubscriptions(); // the device rebooted
        await Wait.UntilAsync(() => _rig.Sim.Operations.Count(o => o == "CreatePullPointSubscription") >= 2 && _rig.Sim.ActiveSubscriptions == 1, "a new subscription", 15_000);
        _rig.Sim.EmitMotion(1, on: true);
        await Wait.UntilAsync(() => _rig.Cloud.On("alarms").Count == 1, "the alarm after resubscribing", 10_000);
        // Termination 15 s, pulls of 2 s: the service renews once less than a pull + 10 s remain.
        await Wait.UntilAsync(() => _rig.Sim.Renewals >= 1, "a Renew", 15_000);
    }

    [Fact]
    public async Task AxisStyleSubscription_ReferenceParametersEchoedAsHeaders()
    {
        await using var axis = new OnvifSimulator(new SimDevice { Serial = "00408CFAB754", SubscriptionReferenceParameters = true });
        await OnvifTestKit.AddDeviceAsync(_rig.Catalog, _rig.Pool, axis);
        _rig.Policy.Recipients[("00408CFAB754", 2)] = ["owner@example.com"];
        await _rig.Service.StartAsync(default);
        await Wait.UntilAsync(() => axis.ActiveSubscriptions == 1, "a subscription", 10_000);
        axis.Emit("tns1:RuleEngine/LineDetector/Crossed", [("VideoSourceConfigurationToken", OnvifSimulator.ConfigToken(2))], [("ObjectId", "7")]);
        await Wait.UntilAsync(() => _rig.Cloud.On("alarms").Any(a => a.Payload.Contains("00408CFAB754")), "the line crossing", 10_000);
        var alarm = _rig.Cloud.On("alarms").Single(a => a.Payload.Contains("00408CFAB754")).Payload;
        Assert.Contains("\"channel\":2,\"kind\":\"lineCrossing\",\"state\":\"pulse\"", alarm);
        await _rig.Service.StopAsync(default);
        Assert.Equal(1, axis.Unsubscribes);
    }

    [Fact]
    public async Task DeviceGoesOffline_SubscriptionStops()
    {
        await _rig.Service.StartAsync(default);
        await Wait.UntilAsync(() => _rig.Sim.ActiveSubscriptions == 1, "a subscription", 10_000);
        _rig.Catalog.SetOnline(_rig.Sim.Device.Serial, false);
        await Wait.UntilAsync(() => _rig.Sim.Unsubscribes == 1 && _rig.Service.ActiveSubscriptions == 0, "unsubscribed", 10_000);
    }
}
