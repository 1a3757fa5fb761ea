using System.Security.Cryptography;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Alarms;
using HikShareGateway.Core.Configuration;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Snapshots;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Ffmpeg.Snapshots;

/// <summary>Section <c>Alarms</c>: the pictures of alarms (contract §7, v1.1).</summary>
public sealed class AlarmSnapshotOptions : IValidatableOptions
{
    public const string Section = "Alarms";

    /// <summary>How long an alarm's picture is kept. Default 60 (contract §9).</summary>
    public int SnapshotMinutes { get; set; } = 60;

    /// <summary>Pictures kept at most (the oldest goes first): memory is about this many JPEGs. Default 200.</summary>
    public int MaxSnapshots { get; set; } = 200;

    /// <summary>Width of alarm pictures; 0 = the main stream's width. Default 0.</summary>
    public int SnapshotWidth { get; set; }

    public void Validate(ICollection<string> errors)
    {
        if (SnapshotMinutes is < 1 or > 7 * 24 * 60)
        {
            errors.Add($"Alarms:SnapshotMinutes {SnapshotMinutes} is out of range: use 1-10080 (default 60).");
        }
        if (MaxSnapshots is < 1 or > 100_000)
        {
            errors.Add($"Alarms:MaxSnapshots {MaxSnapshots} is out of range: use 1-100000 (default 200).");
        }
        if (SnapshotWidth != 0 && SnapshotWidth is < 16 or > 3840)
        {
            errors.Add($"Alarms:SnapshotWidth {SnapshotWidth} is out of range: use 0 (the stream's width) or 16-3840.");
        }
    }
}

/// <summary>
/// <see cref="IAlarmSnapshots"/> over <see cref="ISnapshotService"/>: each start/pulse alarm gets a random id, its
/// picture is taken at once (through the snapshot service, so alarms of one channel arriving together share a decode)
/// and kept, with the alarm's recipients, until <see cref="AlarmSnapshotOptions.SnapshotMinutes"/> pass.
/// A picture is served to an account that was a recipient and still holds <c>alarmPush</c> on the channel; to anyone
/// else the alarm does not exist. Bounded: at most <see cref="AlarmSnapshotOptions.MaxSnapshots"/>, oldest dropped.
/// </summary>
public sealed partial class AlarmPictureStore : IAlarmSnapshots, IDisposable
{
    private readonly ISnapshotService _snapshots;
    private readonly IAccessPolicy _policy;
    private readonly AlarmSnapshotOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Queue<Entry> _order = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly ITimer _sweep;

    public AlarmPictureStore(ISnapshotService snapshots, IAccessPolicy policy, AlarmSnapshotOptions options, TimeProvider time, ILogger<AlarmPictureStore> logger)
    {
        _snapshots = snapshots;
        _policy = policy;
        _options = options;
        _time = time;
        _logger = logger;
        _sweep = time.CreateTimer(static s => ((AlarmPictureStore)s!).Sweep(), this, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
    }

    /// <summary>Pictures held now (taken or being taken).</summary>
    public int Count { get { lock (_gate) { return _entries.Count; } } }

    public AlarmEvent Attach(AlarmEvent alarm, IReadOnlyList<string> recipients)
    {
        if (alarm.State is not ("start" or "pulse") || _snapshots.UnavailableReason is not null)
        {
            return alarm;
        }
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        var picture = TakeAsync(alarm, id);
        var entry = new Entry(id, alarm.DeviceId, alarm.Channel, [.. recipients], _time.GetUtcNow() + TimeSpan.FromMinutes(_options.SnapshotMinutes), picture);
        Entry? dropped = null;
        lock (_gate)
        {
            _entries[id] = entry;
            _order.Enqueue(entry);
            while (_order.Count > _options.MaxSnapshots)
            {
                dropped = _order.Dequeue();
                _entries.Remove(dropped.Id);
            }
        }
        if (dropped is not null)
        {
            LogDropped(_logger, _options.MaxSnapshots);
        }
        return alarm with { Id = id, Snapshot = $"/api/v1/alarms/{id}/snapshot.jpg" };
    }

    private async Task<AlarmPicture> TakeAsync(AlarmEvent alarm, string id)
    {
        await Task.Yield(); // Attach never waits: the router publishes the alarm at once.
        try
        {
            var image = await _snapshots.TakeAsync(alarm.DeviceId, alarm.Channel, StreamKind.Main, _options.SnapshotWidth, _stop.Token).ConfigureAwait(false);
            return new AlarmPicture(AlarmPictureStatus.Ok, image.Jpeg);
        }
        catch (Exception e) when (e is SnapshotException or DeviceException or OperationCanceledException)
        {
            LogFailed(_logger, alarm.DeviceId, alarm.Channel, alarm.Kind, id, e.Message);
            return new AlarmPicture(AlarmPictureStatus.Failed, default, "the picture of this alarm could not be taken: " + e.Message);
        }
    }

    public async Task<AlarmPicture> GetAsync(string id, string account, CancellationToken cancellationToken)
    {
        Entry? entry;
        lock (_gate)
        {
            _entries.TryGetValue(id, out entry);
        }
        if (entry is null || entry.Expires <= _time.GetUtcNow() || !entry.Recipients.Contains(account)
            || !_policy.IsAllowed(account, entry.DeviceId, entry.Channel, Privilege.AlarmPush))
        {
            return new AlarmPicture(AlarmPictureStatus.NotFound, default);
        }
        return await entry.Picture.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private void Sweep()
    {
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            while (_order.TryPeek(out var oldest) && oldest.Expires <= now)
            {
                _order.Dequeue();
                _entries.Remove(oldest.Id);
            }
        }
    }

    public void Dispose()
    {
        _sweep.Dispose();
        _stop.Cancel();
        lock (_gate)
        {
            _entries.Clear();
            _order.Clear();
        }
    }

    private sealed record Entry(string Id, string DeviceId, int Channel, HashSet<string> Recipients, DateTimeOffset Expires, Task<AlarmPicture> Picture);

    [LoggerMessage(EventId = 7820, Level = LogLevel.Warning, Message = "Picture of alarm {Kind} on {DeviceId} channel {Channel} ({AlarmId}) not taken: {Reason}")]
    private static partial void LogFailed(ILogger logger, string deviceId, int channel, string kind, string alarmId, string reason);

    [LoggerMessage(EventId = 7821, Level = LogLevel.Information, Message = "Alarm pictures over Alarms:MaxSnapshots ({Max}): the oldest was dropped")]
    private static partial void LogDropped(ILogger logger, int max);
}
