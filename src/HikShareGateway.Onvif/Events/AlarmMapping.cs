using HikShareGateway.Onvif.Parsers;

namespace HikShareGateway.Onvif.Events;

/// <summary>A device event recognised as an alarm, before its channel is resolved.</summary>
public sealed record MappedAlarm(string Kind, string State, string? SourceToken, DateTimeOffset? DeviceTime);

/// <summary>
/// Pure mapping of ONVIF notification topics to contract alarm kinds (§7). Topics are the ones real devices send
/// (ONVIF Core §9.x topic set; Hikvision and Axis fixtures). Routine monitoring (CPU, link, operating time, image
/// too dark) is not an alarm.
/// </summary>
public static class AlarmMapping
{
    public static bool TryMap(NotificationMessage m, out MappedAlarm alarm)
    {
        alarm = null!;
        var topic = m.Topic;
        string kind;
        string? state;
        switch (topic)
        {
            case "tns1:VideoSource/MotionAlarm":
                kind = "motion";
                state = Bool(m.DataItem("State"));
                break;
            case "tns1:RuleEngine/CellMotionDetector/Motion":
                kind = "motion";
                state = Bool(m.DataItem("IsMotion"));
                break;
            case "tns1:RuleEngine/LineDetector/Crossed":
                // An edge event: no state, something crossed the line now.
                kind = "lineCrossing";
                state = "pulse";
                break;
            case "tns1:RuleEngine/FieldDetector/ObjectsInside":
                kind = "intrusion";
                state = Bool(m.DataItem("IsInside"));
                break;
            case "tns1:RuleEngine/TamperDetector/Tamper":
                kind = "tamper";
                state = Bool(m.DataItem("IsTamper"));
                break;
            default:
                if (topic.StartsWith("tns1:VideoSource/", StringComparison.Ordinal)
                    && (topic.EndsWith("SignalLoss", StringComparison.OrdinalIgnoreCase) || topic.EndsWith("VideoLoss", StringComparison.OrdinalIgnoreCase)))
                {
                    kind = "videoLoss";
                    state = Bool(m.DataItem("State") ?? FirstValue(m));
                }
                else if (topic.StartsWith("tns1:Device/", StringComparison.Ordinal)
                    && (topic.EndsWith("DigitalInput", StringComparison.OrdinalIgnoreCase) || topic.EndsWith("AlarmIn", StringComparison.OrdinalIgnoreCase)))
                {
                    kind = "alarmInput";
                    state = Bool(m.DataItem("LogicalState") ?? m.DataItem("State") ?? FirstValue(m));
                }
                else
                {
                    return false;
                }
                break;
        }
        if (state is null)
        {
            return false;
        }
        // "Initialized" is the state sync at subscription time: an inactive initial state is not an event.
        if (m.PropertyOperation == "Initialized" && state == "stop")
        {
            return false;
        }
        alarm = new MappedAlarm(kind, state, SourceToken(m), m.UtcTime);
        return true;
    }

    /// <summary>The token naming what fired: a video source, a video source configuration, or an input.</summary>
    public static string? SourceToken(NotificationMessage m) =>
        m.SourceItem("VideoSourceConfigurationToken") ?? m.SourceItem("VideoSourceToken") ?? m.SourceItem("Source")
        ?? m.SourceItem("InputToken") ?? m.SourceItem("AlarmInToken") ?? (m.Source.Count > 0 ? m.Source[0].Value : null);

    private static string? FirstValue(NotificationMessage m) => m.Data.Count > 0 ? m.Data[0].Value : null;

    private static string? Bool(string? v) => v?.Trim().ToLowerInvariant() switch
    {
        "true" or "1" or "active" or "on" => "start",
        "false" or "0" or "inactive" or "off" => "stop",
        _ => null,
    };
}

/// <summary>Drops repeats of the same (device, channel, kind, state) within a window. Thread-safe.</summary>
public sealed class AlarmDebouncer(TimeSpan window)
{
    private readonly Dictionary<(string, int, string, string), DateTimeOffset> _last = [];
    private readonly Lock _gate = new();

    public bool ShouldPass(string deviceId, int channel, string kind, string state, DateTimeOffset now)
    {
        var key = (deviceId, channel, kind, state);
        lock (_gate)
        {
            if (_last.TryGetValue(key, out var at) && now - at < window)
            {
                return false;
            }
            _last[key] = now;
            if (_last.Count > 4096)
            {
                foreach (var k in _last.Where(kv => now - kv.Value >= window).Select(kv => kv.Key).ToList())
                {
                    _last.Remove(k);
                }
            }
            return true;
        }
    }
}
