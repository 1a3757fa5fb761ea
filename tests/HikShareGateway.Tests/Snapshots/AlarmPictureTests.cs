using System.Net;
using System.Text.Json;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Alarms;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Snapshots;
using HikShareGateway.Ffmpeg.Snapshots;
using HikShareGateway.Http.Snapshots;
using HikShareGateway.Onvif.Events;
using HikShareGateway.Tests.Http;
using HikShareGateway.Tests.Onvif;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace HikShareGateway.Tests.Snapshots;

/// <summary>A snapshot service that answers with a fixed JPEG-like payload, counting calls (or failing).</summary>
internal sealed class FakeSnapshots : ISnapshotService
{
    public static readonly byte[] Picture = [0xff, 0xd8, 1, 2, 3, 0xff, 0xd9];
    private int _calls;

    public int Calls => Volatile.Read(ref _calls);
    public Exception? Failure { get; set; }
    public string? UnavailableReason { get; set; }

    public Task<SnapshotImage> TakeAsync(string deviceId, int channel, StreamKind kind, int width, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _calls);
        return Failure is { } f ? Task.FromException<SnapshotImage>(f) : Task.FromResult(new SnapshotImage(Picture, 640, 360, DateTimeOffset.UnixEpoch));
    }
}

/// <summary>Alarm pictures (contract §7 v1.1): id and path on start/pulse alarms, kept for the recipients only, for a while.</summary>
[Trait("Category", "Unit")]
public sealed class AlarmPictureTests
{
    private const string Owner = "owner@example.com";
    private const string Bob = "bob@example.com";
    private const string Eve = "eve@example.com";
    private static readonly DateTimeOffset At = new(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);

    private static (AlarmPictureStore Store, FakeSnapshots Snapshots, FakePolicy Policy, FakeTimeProvider Time) Create(AlarmSnapshotOptions? options = null)
    {
        var snapshots = new FakeSnapshots();
        var policy = new FakePolicy();
        policy.Grant(Bob, "cam-1", 1, Privilege.AlarmPush | Privilege.LiveView);
        policy.Own(Owner, "cam-1");
        var time = new FakeTimeProvider(At);
        return (new AlarmPictureStore(snapshots, policy, options ?? new AlarmSnapshotOptions(), time, NullLogger<AlarmPictureStore>.Instance), snapshots, policy, time);
    }

    [Fact]
    public async Task StartAlarm_GetsIdAndPath_PictureServedToRecipients_NotToOthers()
    {
        var (store, snapshots, _, _) = Create();
        using var owned = store;
        var alarm = store.Attach(new AlarmEvent("cam-1", 1, "motion", "start", At), [Owner, Bob]);
        Assert.Matches("^[0-9a-f]{24}$", alarm.Id);
        Assert.Equal($"/api/v1/alarms/{alarm.Id}/snapshot.jpg", alarm.Snapshot);
        var bob = await store.GetAsync(alarm.Id!, Bob, CancellationToken.None);
        Assert.Equal(AlarmPictureStatus.Ok, bob.Status);
        Assert.Equal(FakeSnapshots.Picture, bob.Jpeg.ToArray());
        Assert.Equal(AlarmPictureStatus.Ok, (await store.GetAsync(alarm.Id!, Owner, CancellationToken.None)).Status);
        Assert.Equal(AlarmPictureStatus.NotFound, (await store.GetAsync(alarm.Id!, Eve, CancellationToken.None)).Status);
        Assert.Equal(AlarmPictureStatus.NotFound, (await store.GetAsync("0123456789abcdef01234567", Bob, CancellationToken.None)).Status);
        Assert.Equal(1, snapshots.Calls);
    }

    [Theory]
    [InlineData("stop")]
    [InlineData("changed")]
    public void OtherStates_NoIdNoPicture(string state)
    {
        var (store, snapshots, _, _) = Create();
        using var owned = store;
        var alarm = store.Attach(new AlarmEvent("cam-1", 1, "motion", state, At), [Owner]);
        Assert.Null(alarm.Id);
        Assert.Null(alarm.Snapshot);
        Assert.Equal(0, snapshots.Calls);
    }

    [Fact]
    public void SnapshotsOff_AlarmUnchanged()
    {
        var (store, snapshots, _, _) = Create();
        using var owned = store;
        snapshots.UnavailableReason = "off";
        Assert.Null(store.Attach(new AlarmEvent("cam-1", 1, "motion", "pulse", At), [Owner]).Id);
    }

    [Fact]
    public async Task AfterSnapshotMinutes_TheAlarmIsGone()
    {
        var (store, _, _, time) = Create(new AlarmSnapshotOptions { SnapshotMinutes = 5 });
        using var owned = store;
        var alarm = store.Attach(new AlarmEvent("cam-1", 1, "motion", "pulse", At), [Bob]);
        time.Advance(TimeSpan.FromMinutes(4));
        Assert.Equal(AlarmPictureStatus.Ok, (await store.GetAsync(alarm.Id!, Bob, CancellationToken.None)).Status);
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(AlarmPictureStatus.NotFound, (await store.GetAsync(alarm.Id!, Bob, CancellationToken.None)).Status);
        // The sweep (every minute) has dropped it from memory too.
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(0, store.Count);
    }

    [Fact]
    public async Task OverMaxSnapshots_TheOldestIsDropped()
    {
        var (store, _, _, _) = Create(new AlarmSnapshotOptions { MaxSnapshots = 2 });
        using var owned = store;
        var first = store.Attach(new AlarmEvent("cam-1", 1, "motion", "start", At), [Bob]);
        var second = store.Attach(new AlarmEvent("cam-1", 1, "motion", "start", At), [Bob]);
        var third = store.Attach(new AlarmEvent("cam-1", 1, "motion", "start", At), [Bob]);
        Assert.Equal(2, store.Count);
        Assert.Equal(AlarmPictureStatus.NotFound, (await store.GetAsync(first.Id!, Bob, CancellationToken.None)).Status);
        Assert.Equal(AlarmPictureStatus.Ok, (await store.GetAsync(second.Id!, Bob, CancellationToken.None)).Status);
        Assert.Equal(AlarmPictureStatus.Ok, (await store.GetAsync(third.Id!, Bob, CancellationToken.None)).Status);
    }

    [Fact]
    public async Task RecipientWhoLostAlarmPush_NotFound()
    {
        var (store, _, policy, _) = Create();
        using var owned = store;
        var alarm = store.Attach(new AlarmEvent("cam-1", 1, "motion", "start", At), [Bob]);
        policy.RevokeAll(Bob);
        Assert.Equal(AlarmPictureStatus.NotFound, (await store.GetAsync(alarm.Id!, Bob, CancellationToken.None)).Status);
    }

    [Fact]
    public async Task PictureCouldNotBeTaken_FailedWithAReason()
    {
        var (store, snapshots, _, _) = Create();
        using var owned = store;
        snapshots.Failure = new DeviceException(DeviceErrorKind.Timeout, "the device did not answer");
        var alarm = store.Attach(new AlarmEvent("cam-1", 1, "motion", "start", At), [Bob]);
        var got = await store.GetAsync(alarm.Id!, Bob, CancellationToken.None);
        Assert.Equal(AlarmPictureStatus.Failed, got.Status);
        Assert.Contains("did not answer", got.Reason);
    }

    [Fact]
    public void Router_StartAlarm_PublishedWithIdAndSnapshot_StopWithout()
    {
        var (store, _, _, _) = Create();
        using var owned = store;
        var policy = new FakeAccessPolicy();
        policy.Recipients[("cam-1", 1)] = [Bob];
        var cloud = new RecordingCloudPublisher();
        var feed = new AlarmFeed();
        var router = new AlarmRouter(policy, cloud, feed, NullLogger<AlarmRouter>.Instance, snapshots: store);
        Assert.True(router.Route(new AlarmEvent("cam-1", 1, "motion", "start", At)));
        Assert.True(router.Route(new AlarmEvent("cam-1", 1, "motion", "stop", At)));
        var published = cloud.On("alarms");
        using var start = JsonDocument.Parse(published[0].Payload);
        var id = start.RootElement.GetProperty("id").GetString();
        Assert.Matches("^[0-9a-f]{24}$", id);
        Assert.Equal($"/api/v1/alarms/{id}/snapshot.jpg", start.RootElement.GetProperty("snapshot").GetString());
        using var stop = JsonDocument.Parse(published[1].Payload);
        Assert.False(stop.RootElement.TryGetProperty("id", out _));
        Assert.False(stop.RootElement.TryGetProperty("snapshot", out _));
    }
}

/// <summary>The alarm picture endpoint on the API host: 200 for a recipient (Bearer or ?token=), 404 for anyone else, 401 without a token.</summary>
[Trait("Category", "Integration")]
public sealed class AlarmSnapshotEndpointTests
{
    [Fact]
    public async Task AlarmSnapshot_RecipientGetsTheJpeg_NonRecipient404_NoToken401_EventsCarryIdAndPath()
    {
        var snapshots = new FakeSnapshots();
        AlarmPictureStore? store = null;
        await using var host = await ApiTestHost.StartAsync(
            configure: s => s.AddSingleton<IAlarmSnapshots>(sp => store = new AlarmPictureStore(snapshots, sp.GetRequiredService<IAccessPolicy>(),
                new AlarmSnapshotOptions(), sp.GetRequiredService<TimeProvider>(), NullLogger<AlarmPictureStore>.Instance)),
            map: app => AlarmSnapshotEndpoint.Map(app));
        host.Policy.Grant("bob@example.com", ApiTestHost.Device, 1, Privilege.AlarmPush);
        var pictures = host.App.Services.GetRequiredService<IAlarmSnapshots>();
        var alarm = pictures.Attach(new AlarmEvent(ApiTestHost.Device, 1, "motion", "start", host.Time.GetUtcNow()), ["bob@example.com"]);

        using var bob = await host.SendAsync(HttpMethod.Get, alarm.Snapshot!, "tok-bob");
        Assert.Equal(HttpStatusCode.OK, bob.StatusCode);
        Assert.Equal("image/jpeg", bob.Content.Headers.ContentType?.MediaType);
        Assert.Equal(FakeSnapshots.Picture, await bob.Content.ReadAsByteArrayAsync());
        using var byQuery = await host.Client.GetAsync(alarm.Snapshot + "?token=tok-bob");
        Assert.Equal(HttpStatusCode.OK, byQuery.StatusCode);

        using var eve = await host.SendAsync(HttpMethod.Get, alarm.Snapshot!, "tok-eve");
        Assert.Equal(HttpStatusCode.NotFound, eve.StatusCode);
        Assert.Equal("application/problem+json", eve.Content.Headers.ContentType?.MediaType);
        using var unknown = await host.SendAsync(HttpMethod.Get, "/api/v1/alarms/0123456789abcdef01234567/snapshot.jpg", "tok-bob");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        using var none = await host.SendAsync(HttpMethod.Get, alarm.Snapshot!, null);
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);

        // The SSE line of the same alarm carries id and snapshot.
        var line = HikShareGateway.Http.EventsEndpoint.Format(1, alarm, "bob@example.com");
        Assert.Contains($"\"id\":\"{alarm.Id}\"", line);
        Assert.Contains($"\"snapshot\":\"{alarm.Snapshot}\"", line);
        store?.Dispose();
    }
}
