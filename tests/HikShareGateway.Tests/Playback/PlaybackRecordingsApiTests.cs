using System.Net;
using System.Text.Json;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Playback;
using HikShareGateway.Tests.Http;
using Microsoft.Extensions.DependencyInjection;

namespace HikShareGateway.Tests.Playback;

/// <summary><c>GET /api/v1/devices/{id}/channels/{ch}/recordings</c> on the real HTTP API with a fake recording service.</summary>
[Trait("Category", "Unit")]
public sealed class PlaybackRecordingsApiTests : IAsyncLifetime
{
    private const string Path = "/api/v1/devices/" + ApiTestHost.Device + "/channels/2/recordings";
    private readonly FakeRecordings _recordings = new();
    private ApiTestHost _host = null!;

    public async Task InitializeAsync()
    {
        _host = await ApiTestHost.StartAsync(s => s.AddSingleton<IRecordingService>(_recordings));
        _host.Policy.Grant("bob@example.com", ApiTestHost.Device, 2, Privilege.Playback);
        _host.Policy.Grant("eve@example.com", ApiTestHost.Device, 2, Privilege.LiveView);
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task WithPlayback_ListsTheSpans_WithTheirPlaybackPaths()
    {
        _recordings.Spans = [new RecordingSpan(At(9, 0), At(9, 30), "r1"), new RecordingSpan(At(9, 45), At(10, 0), "r1")];

        var r = await _host.SendAsync(HttpMethod.Get, Path + "?from=20261125T090000Z&to=2026-11-25T10:00:00Z", "tok-bob");

        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        var root = doc.RootElement;
        Assert.Equal("2026-11-25T09:00:00Z", root.GetProperty("from").GetString());
        Assert.Equal("2026-11-25T10:00:00Z", root.GetProperty("to").GetString());
        var spans = root.GetProperty("recordings").EnumerateArray().ToList();
        Assert.Equal(2, spans.Count);
        Assert.Equal("2026-11-25T09:00:00Z", spans[0].GetProperty("start").GetString());
        Assert.Equal("/playback/cam-1/2?start=20261125T090000Z&end=20261125T093000Z", spans[0].GetProperty("playback").GetString());
        Assert.Equal((ApiTestHost.Device, 2, At(9, 0), At(10, 0)), _recordings.LastCall);
        Assert.DoesNotContain("r1", root.ToString()); // the device's tokens stay inside
        Assert.Contains(_host.Audit.Events, e => e.Account == "bob@example.com" && e.Action == Privilege.Playback && e.Decision == AuditDecision.Allow);
    }

    [Fact]
    public async Task DefaultWindow_IsTheLast24Hours()
    {
        var r = await _host.SendAsync(HttpMethod.Get, Path, "tok-bob");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal((ApiTestHost.Device, 2, At(10, 0).AddDays(-1), At(10, 0)), _recordings.LastCall);
    }

    [Theory]
    [InlineData("tok-eve", Path)] // live view only
    [InlineData("tok-bob", "/api/v1/devices/cam-1/channels/1/recordings")] // no grant on channel 1
    [InlineData("tok-bob", "/api/v1/devices/no-such/channels/2/recordings")]
    [InlineData("tok-bob", "/api/v1/devices/cam-1/channels/x/recordings")]
    public async Task WithoutPlayback_Is403ProblemJson(string token, string path)
    {
        var r = await _host.SendAsync(HttpMethod.Get, path, token);
        Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        Assert.Equal("application/problem+json", r.Content.Headers.ContentType!.MediaType);
        Assert.Null(_recordings.LastCall);
    }

    [Fact]
    public async Task NoToken_Is401()
    {
        var r = await _host.SendAsync(HttpMethod.Get, Path, null);
        Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
    }

    [Theory]
    [InlineData("?from=yesterday")]
    [InlineData("?from=2026-11-25T10:00:00")] // no zone
    [InlineData("?from=20261125T100000Z&to=20261125T090000Z")]
    [InlineData("?from=20260101T000000Z&to=20261125T000000Z")] // more than 31 days
    public async Task BadWindow_Is400(string query)
    {
        var r = await _host.SendAsync(HttpMethod.Get, Path + query, "tok-bob");
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
    }

    [Theory]
    [InlineData(DeviceErrorKind.NotSupported, 409, "recordings-not-supported")]
    [InlineData(DeviceErrorKind.Failed, 502, "device-error")]
    [InlineData(DeviceErrorKind.Unauthorized, 502, "device-error")]
    [InlineData(DeviceErrorKind.Timeout, 504, "device-timeout")]
    public async Task DeviceFailures_MapToProblems(DeviceErrorKind kind, int status, string slug)
    {
        _recordings.Failure = new DeviceException(kind, "boom at 192.0.2.10");
        var r = await _host.SendAsync(HttpMethod.Get, Path, "tok-bob");
        Assert.Equal(status, (int)r.StatusCode);
        var body = await r.Content.ReadAsStringAsync();
        Assert.Contains("urn:hikshare:problem:" + slug, body);
        Assert.DoesNotContain("192.0.2.10", body);
    }

    private static DateTimeOffset At(int hour, int minute) => new(2026, 11, 25, hour, minute, 0, TimeSpan.Zero);

    private sealed class FakeRecordings : IRecordingService
    {
        public IReadOnlyList<RecordingSpan> Spans { get; set; } = [];
        public Exception? Failure { get; set; }
        public (string, int, DateTimeOffset, DateTimeOffset)? LastCall { get; private set; }

        public Task<IReadOnlyList<RecordingSpan>> FindAsync(string deviceId, int channel, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
        {
            LastCall = (deviceId, channel, from, to);
            return Failure is null ? Task.FromResult(Spans) : Task.FromException<IReadOnlyList<RecordingSpan>>(Failure);
        }

        public Task<Uri> GetReplayUriAsync(string deviceId, int channel, DateTimeOffset at, CancellationToken cancellationToken) => throw new NotSupportedException();
    }
}

/// <summary>A channel configured with a Playback template and no ONVIF: 409 with its own reason, from the whole gateway.</summary>
[Trait("Category", "Unit")]
public sealed class PlaybackRecordingsTemplateChannelTests
{
    [Fact]
    public async Task TemplateChannelWithoutOnvif_Is409RecordingsNotSearchable()
    {
        await using var host = await ApiTestHost.StartAsync(s => s.AddSingleton<IDeviceCatalog>(new StaticDeviceCatalog(
        [
            new DeviceInfo
            {
                DeviceId = ApiTestHost.Device, Source = DeviceSource.Configuration,
                Channels = [new ChannelInfo { Channel = 1, MainUri = new Uri("rtsp://192.0.2.10/Streaming/Channels/101"), PlaybackTemplate = "rtsp://192.0.2.10/Streaming/tracks/101?starttime={start}&endtime={end}", Playback = true }],
            },
        ])));
        host.Policy.Grant("bob@example.com", ApiTestHost.Device, 1, Privilege.Playback);

        var r = await host.SendAsync(HttpMethod.Get, "/api/v1/devices/cam-1/channels/1/recordings", "tok-bob");

        Assert.Equal(HttpStatusCode.Conflict, r.StatusCode);
        var body = await r.Content.ReadAsStringAsync();
        Assert.Contains("urn:hikshare:problem:recordings-not-searchable", body);
        Assert.DoesNotContain("192.0.2.10", body);
    }
}
