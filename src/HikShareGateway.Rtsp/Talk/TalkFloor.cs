namespace HikShareGateway.Rtsp.Talk;

/// <summary>
/// One talker per (device, channel) at a time (contract §5): a device has one speaker per channel, and two
/// people talking into it at once would be noise. Main and sub stream URLs share the floor.
/// </summary>
public sealed class TalkFloor
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Holder> _held = new(StringComparer.Ordinal);

    /// <summary>Takes the floor for the channel, or returns null when someone else holds it (answer 453).</summary>
    public IDisposable? TryTake(string deviceId, int channel)
    {
        var key = deviceId + "/" + channel.ToString(System.Globalization.CultureInfo.InvariantCulture);
        lock (_gate)
        {
            if (_held.ContainsKey(key))
            {
                return null;
            }
            var holder = new Holder(this, key);
            _held[key] = holder;
            return holder;
        }
    }

    public bool IsHeld(string deviceId, int channel)
    {
        lock (_gate)
        {
            return _held.ContainsKey(deviceId + "/" + channel.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    private void Release(Holder holder)
    {
        lock (_gate)
        {
            if (_held.TryGetValue(holder.Key, out var h) && ReferenceEquals(h, holder))
            {
                _held.Remove(holder.Key);
            }
        }
    }

    private sealed class Holder(TalkFloor floor, string key) : IDisposable
    {
        private int _released;
        public string Key { get; } = key;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                floor.Release(this);
            }
        }
    }
}
