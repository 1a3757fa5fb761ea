using System.Buffers;
using System.Text.Json;
using HikShareGateway.Core.Cloud;
using HikShareGateway.Core.Devices;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Onvif.Catalog;

/// <summary>
/// The device inventory (contract §6), built purely from the catalog. Credentials and upstream addresses are never
/// written: only ids, descriptive strings, channel numbers/names and capability flags.
/// </summary>
public static class InventoryJson
{
    public static byte[] Build(IEnumerable<DeviceInfo> devices, DateTimeOffset generatedAt)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("generatedAt", generatedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture));
            w.WriteStartArray("devices");
            foreach (var d in devices.OrderBy(d => d.DeviceId, StringComparer.Ordinal))
            {
                w.WriteStartObject();
                w.WriteString("deviceId", d.DeviceId);
                if (d.Name is not null)
                {
                    w.WriteString("name", d.Name);
                }
                w.WriteString("manufacturer", d.Manufacturer);
                w.WriteString("model", d.Model);
                w.WriteString("firmware", d.Firmware);
                w.WriteStartArray("channels");
                foreach (var c in d.Channels.OrderBy(c => c.Channel))
                {
                    w.WriteStartObject();
                    w.WriteNumber("channel", c.Channel);
                    w.WriteString("name", c.Name ?? $"Channel {c.Channel}");
                    w.WriteStartArray("streams");
                    if (c.MainUri is not null)
                    {
                        w.WriteStringValue("main");
                    }
                    if (c.SubUri is not null)
                    {
                        w.WriteStringValue("sub");
                    }
                    w.WriteEndArray();
                    w.WriteBoolean("ptz", c.Ptz);
                    w.WriteBoolean("backchannel", c.Backchannel);
                    w.WriteBoolean("playback", c.Playback);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteBoolean("online", d.Online);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }
}

/// <summary>
/// Publishes the inventory retained to <c>devices</c> at start and after catalog changes, debounced (a discovery burst
/// or a refresh of many devices gives one message), and only when the content (apart from the timestamp) changed.
/// </summary>
public sealed partial class InventoryPublisher : IHostedService, IDisposable
{
    public static readonly TimeSpan DefaultDebounce = TimeSpan.FromSeconds(1);
    private readonly IDeviceCatalog _catalog;
    private readonly ICloudPublisher _publisher;
    private readonly TimeProvider _time;
    private readonly ILogger<InventoryPublisher> _logger;
    private readonly TimeSpan _debounce;
    private readonly Lock _gate = new();
    private ITimer? _timer;
    private string? _lastContent;

    public InventoryPublisher(IDeviceCatalog catalog, ICloudPublisher publisher, TimeProvider time, ILogger<InventoryPublisher> logger, TimeSpan? debounce = null)
    {
        _catalog = catalog;
        _publisher = publisher;
        _time = time;
        _logger = logger;
        _debounce = debounce ?? DefaultDebounce;
    }

    public int PublishedCount { get; private set; }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _catalog.Changed += OnChanged;
        PublishNow();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _catalog.Changed -= OnChanged;
        lock (_gate)
        {
            _timer?.Dispose();
            _timer = null;
        }
        return Task.CompletedTask;
    }

    private void OnChanged()
    {
        lock (_gate)
        {
            // Trailing-edge debounce: the timer restarts on every change in the window.
            _timer ??= _time.CreateTimer(_ => PublishNow(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _timer.Change(_debounce, Timeout.InfiniteTimeSpan);
        }
    }

    internal void PublishNow()
    {
        var devices = _catalog.Devices;
        var payload = InventoryJson.Build(devices, _time.GetUtcNow());
        var content = System.Text.Encoding.UTF8.GetString(InventoryJson.Build(devices, DateTimeOffset.UnixEpoch));
        lock (_gate)
        {
            if (content == _lastContent)
            {
                return;
            }
            _lastContent = content;
            PublishedCount++;
        }
        _publisher.Publish("devices", payload, retain: true);
        Log.Published(_logger, devices.Count);
    }

    public void Dispose() => _timer?.Dispose();

    private static partial class Log
    {
        [LoggerMessage(EventId = 4201, Level = LogLevel.Debug, Message = "Published the device inventory ({Count} devices)")]
        public static partial void Published(ILogger logger, int count);
    }
}
