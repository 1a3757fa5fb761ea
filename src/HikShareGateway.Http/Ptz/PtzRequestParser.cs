using System.Text.Json;
using HikShareGateway.Core.Ptz;

namespace HikShareGateway.Http.Ptz;

/// <summary>A parsed <c>ptz/move</c> body. <see cref="Hold"/>: keep the request open while a continuous move runs; closing it stops the move.</summary>
public sealed record PtzMoveRequest(PtzMove Move, bool Hold);

/// <summary>
/// Parses and range-checks the body of <c>POST …/ptz/move</c> (contract §5). Ranges are ONVIF's generic
/// spaces (ONVIF PTZ spec: velocity and translation [-1,1], absolute pan/tilt [-1,1] and zoom [0,1], speed [0,1]).
/// Every error names the field and the accepted values.
/// </summary>
public static class PtzRequestParser
{
    public const int MaxBodyBytes = 4096;

    public static bool TryParse(ReadOnlySpan<byte> body, PtzApiOptions options, out PtzMoveRequest? request, out string error)
    {
        request = null;
        if (body.IsEmpty)
        {
            error = "The body is empty: send JSON such as {\"mode\":\"continuous\",\"pan\":0.5,\"tilt\":0,\"zoom\":0,\"timeoutMs\":1000}.";
            return false;
        }
        // RFC 8259 §8.1: JSON is UTF-8. The reader checks that only when a string is read (and then throws
        // InvalidOperationException, not JsonException), so a bad byte in a name is refused here. Found by fuzzing.
        if (!System.Text.Unicode.Utf8.IsValid(body))
        {
            error = "The body is not UTF-8 JSON.";
            return false;
        }
        JsonDocument doc;
        try
        {
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 8 });
            if (!JsonDocument.TryParseValue(ref reader, out var parsed))
            {
                error = "The body is not JSON.";
                return false;
            }
            doc = parsed;
        }
        catch (JsonException e)
        {
            error = $"The body is not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}).";
            return false;
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                error = "The body must be a JSON object.";
                return false;
            }
            string? mode = null;
            double? pan = null, tilt = null, zoom = null, speed = null;
            long? timeoutMs = null;
            var hold = false;
            foreach (var p in root.EnumerateObject())
            {
                switch (p.Name)
                {
                    case "mode":
                        if (p.Value.ValueKind != JsonValueKind.String)
                        {
                            error = "\"mode\" must be a string: continuous, absolute or relative.";
                            return false;
                        }
                        mode = p.Value.GetString();
                        break;
                    case "pan": if (!Number(p, out pan, out error)) { return false; } break;
                    case "tilt": if (!Number(p, out tilt, out error)) { return false; } break;
                    case "zoom": if (!Number(p, out zoom, out error)) { return false; } break;
                    case "speed": if (!Number(p, out speed, out error)) { return false; } break;
                    case "timeoutMs":
                        if (p.Value.ValueKind == JsonValueKind.Null)
                        {
                            break;
                        }
                        if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt64(out var t))
                        {
                            error = $"\"timeoutMs\" must be a whole number of milliseconds between 1 and {options.MaxTimeoutMs}.";
                            return false;
                        }
                        timeoutMs = t;
                        break;
                    case "hold":
                        if (p.Value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                        {
                            error = "\"hold\" must be true or false.";
                            return false;
                        }
                        hold = p.Value.GetBoolean();
                        break;
                    default:
                        error = $"Unknown field \"{Truncate(p.Name)}\": the fields are mode, pan, tilt, zoom, speed, timeoutMs and hold.";
                        return false;
                }
            }

            PtzMoveMode m;
            switch (mode)
            {
                case "continuous": m = PtzMoveMode.Continuous; break;
                case "absolute": m = PtzMoveMode.Absolute; break;
                case "relative": m = PtzMoveMode.Relative; break;
                case null:
                    error = "\"mode\" is required: continuous, absolute or relative.";
                    return false;
                default:
                    error = $"\"mode\" \"{Truncate(mode)}\" is not supported: use continuous, absolute or relative.";
                    return false;
            }

            var (panTiltMin, zoomMin, what) = m switch
            {
                PtzMoveMode.Continuous => (-1.0, -1.0, "velocities"),
                PtzMoveMode.Absolute => (-1.0, 0.0, "positions"),
                _ => (-1.0, -1.0, "translations"),
            };
            if (!InRange("pan", pan, panTiltMin, 1, what, out error)
                || !InRange("tilt", tilt, panTiltMin, 1, what, out error)
                || !InRange("zoom", zoom, zoomMin, 1, what, out error)
                || !InRange("speed", speed, 0, 1, "speeds", out error))
            {
                return false;
            }
            if (pan is null && tilt is null && zoom is null)
            {
                error = m == PtzMoveMode.Continuous
                    ? "Give at least one of \"pan\", \"tilt\", \"zoom\" (velocities in [-1, 1])."
                    : $"Give at least one of \"pan\", \"tilt\", \"zoom\" ({what}).";
                return false;
            }
            TimeSpan? timeout = null;
            if (m == PtzMoveMode.Continuous)
            {
                var ms = timeoutMs ?? options.DefaultTimeoutMs;
                if (ms < 1 || ms > options.MaxTimeoutMs)
                {
                    error = $"\"timeoutMs\" {ms} is out of range: use 1-{options.MaxTimeoutMs} (default {options.DefaultTimeoutMs}).";
                    return false;
                }
                timeout = TimeSpan.FromMilliseconds(ms);
            }
            else if (timeoutMs is not null)
            {
                error = "\"timeoutMs\" only applies to mode continuous.";
                return false;
            }
            else if (hold)
            {
                error = "\"hold\" only applies to mode continuous.";
                return false;
            }
            request = new PtzMoveRequest(new PtzMove(m, pan, tilt, zoom, speed, timeout), hold);
            error = "";
            return true;
        }
    }

    private static bool Number(JsonProperty p, out double? value, out string error)
    {
        value = null;
        error = "";
        if (p.Value.ValueKind == JsonValueKind.Null)
        {
            return true;
        }
        if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetDouble(out var d) || !double.IsFinite(d))
        {
            error = $"\"{p.Name}\" must be a number.";
            return false;
        }
        value = d;
        return true;
    }

    private static bool InRange(string name, double? value, double min, double max, string what, out string error)
    {
        if (value is { } v && (v < min || v > max))
        {
            error = $"\"{name}\" {v.ToString(System.Globalization.CultureInfo.InvariantCulture)} is out of range: {what} are in [{min}, {max}].";
            return false;
        }
        error = "";
        return true;
    }

    private static string Truncate(string s) => s.Length <= 32 ? s : s[..32] + "…";
}
