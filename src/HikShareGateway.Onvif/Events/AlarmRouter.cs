using System.Buffers;
using System.Globalization;
using System.Text.Json;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Alarms;
using HikShareGateway.Core.Cloud;
using HikShareGateway.Core.Diagnostics;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Onvif.Events;

/// <summary>
/// Sends an alarm to the accounts allowed to receive it (contract §7): the owner and every accepted share with
/// alarmPush on that device and channel — as the access policy says. Published to <c>alarms</c> (not retained) and
/// to the SSE feed. No recipients (no grants) → dropped. With <see cref="IAlarmSnapshots"/> (v1.1), start and pulse
/// alarms carry an id and the path of their picture.
/// </summary>
public sealed partial class AlarmRouter(IAccessPolicy policy, ICloudPublisher cloud, AlarmFeed feed, ILogger<AlarmRouter> logger, GatewayMetrics? metrics = null,
    IAlarmSnapshots? snapshots = null)
{
    private readonly GatewayMetrics _metrics = metrics ?? GatewayMetrics.Unexported;

    public bool Route(AlarmEvent alarm)
    {
        var recipients = policy.GetAlarmRecipients(alarm.DeviceId, alarm.Channel);
        if (recipients.Count == 0)
        {
            Log.NoRecipients(logger, alarm.DeviceId, alarm.Channel, alarm.Kind);
            return false;
        }
        if (snapshots is not null)
        {
            alarm = snapshots.Attach(alarm, recipients);
        }
        cloud.Publish("alarms", ToJson(alarm, recipients), retain: false);
        feed.Publish(new RoutedAlarm(alarm, recipients));
        _metrics.Alarms.Add(1, new KeyValuePair<string, object?>("kind", alarm.Kind));
        Log.Routed(logger, alarm.DeviceId, alarm.Channel, alarm.Kind, alarm.State, recipients.Count);
        return true;
    }

    public static byte[] ToJson(AlarmEvent alarm, IReadOnlyList<string> recipients)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("deviceId", alarm.DeviceId);
            w.WriteNumber("channel", alarm.Channel);
            w.WriteString("kind", alarm.Kind);
            w.WriteString("state", alarm.State);
            w.WriteString("at", alarm.At.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
            if (alarm.Id is not null && alarm.Snapshot is not null)
            {
                w.WriteString("id", alarm.Id);
                w.WriteString("snapshot", alarm.Snapshot);
            }
            w.WriteStartArray("recipients");
            foreach (var r in recipients)
            {
                w.WriteStringValue(r);
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4501, Level = LogLevel.Debug, Message = "Alarm {Kind} on {DeviceId} channel {Channel} dropped: nobody may receive it (no grants)")]
        public static partial void NoRecipients(ILogger logger, string deviceId, int channel, string kind);

        [LoggerMessage(EventId = 4502, Level = LogLevel.Information, Message = "Alarm {Kind} {State} on {DeviceId} channel {Channel} sent to {Count} accounts")]
        public static partial void Routed(ILogger logger, string deviceId, int channel, string kind, string state, int count);
    }
}
