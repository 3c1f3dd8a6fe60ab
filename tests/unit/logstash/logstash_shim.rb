# A stand-in for the parts of Logstash's event API that the bundle's ruby filters use, so
# their code runs for real under an ordinary Ruby (Debian's ruby 3.1; Logstash 9.5 bundles
# JRuby 10, Ruby 3.4 language, Gemfile.jruby-3.4.lock.release: the filters use nothing newer
# than 3.1). Each rule names the Logstash 9.5 source it follows
# (elastic/logstash, logstash-core/); test_ruby_shim.py shows the refusals.
#
# Read by ruby_filter_runner.rb only; never loaded by Logstash.

require "json"
require "time"
require "digest"

module LogStash
  class TimestampParserError < StandardError; end

  class Timestamp
    attr_reader :time

    def initialize(time = Time.now.utc)
      # org/logstash/Timestamp.java keeps an Instant; its JSON form is ISO-8601 UTC.
      @time = time.utc
    end

    def self.now
      new(Time.now.utc)
    end

    # org/logstash/Timestamp.java (String constructor): ISO-8601 only; anything else raises,
    # surfaced in Ruby as LogStash::TimestampParserError (ext/JrubyTimestampExtLibrary.java).
    def self.coerce(value)
      return value if value.is_a?(Timestamp)
      return new(value) if value.is_a?(Time)
      raise TimestampParserError, "invalid timestamp #{value.inspect}" unless value.is_a?(String)
      unless value =~ /\A\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?\z/
        raise TimestampParserError, "invalid timestamp #{value.inspect}"
      end
      new(Time.iso8601(value.sub(" ", "T").then { |v| v =~ /(Z|[+-]\d{2}:?\d{2})\z/ ? v : v + "Z" }))
    rescue ArgumentError
      raise TimestampParserError, "invalid timestamp #{value.inspect}"
    end

    def to_f
      @time.to_f
    end

    def to_s
      @time.iso8601(3)
    end
    alias to_iso8601 to_s

    def to_json(*args)
      to_s.to_json(*args)
    end

    def ==(other)
      other.is_a?(Timestamp) && other.time == @time
    end
  end

  module Json
    class ParserError < StandardError; end

    # lib/logstash/json.rb: JrJackson underneath; a malformed document raises
    # LogStash::Json::ParserError. Ruby's parser and Jackson agree on what is JSON for the
    # documents used here (objects, arrays, strings, numbers, literals; no NaN).
    def self.load(text)
      JSON.parse(text)
    rescue JSON::ParserError => e
      raise ParserError, e.message
    end

    def self.dump(value)
      JSON.generate(value)
    end
  end

  class FieldReferenceError < ArgumentError; end

  # org/logstash/FieldReference.java, StrictTokenizer (the default since Logstash 7): a name
  # without brackets is one top-level key; otherwise every fragment is bracketed, non-empty,
  # balanced, and nothing follows a `]` outside brackets.
  def self.tokenize(reference)
    return [reference] unless reference.include?("[") || reference.include?("]")
    path = []
    depth = 0
    split = 0
    previous = nil
    reference.each_char.with_index do |char, i|
      case char
      when "["
        raise FieldReferenceError, "Invalid FieldReference: `#{reference}`" if split != i
        depth += 1
        split = i + 1
      when "]"
        if depth <= 0 || (split == i && previous != "]")
          raise FieldReferenceError, "Invalid FieldReference: `#{reference}`"
        end
        path << reference[split...i] if split < i
        depth -= 1
        split = i + 1
      else
        raise FieldReferenceError, "Invalid FieldReference: `#{reference}`" if previous == "]"
      end
      previous = char
    end
    raise FieldReferenceError, "Invalid FieldReference: `#{reference}`" if depth > 0
    path
  end

  class Event
    TIMESTAMP = "@timestamp".freeze
    METADATA = "@metadata".freeze

    # org/logstash/Event.java (Map constructor): "@metadata" is kept apart; a missing
    # "@timestamp" becomes now; one that does not parse is kept in "_@timestamp", the event
    # is tagged "_timestampparsefailure" and gets now.
    def initialize(data = {})
      data = deep_copy(data)
      @metadata = data.delete(METADATA) || {}
      provided = data.delete(TIMESTAMP)
      @data = data
      begin
        @data[TIMESTAMP] = provided.nil? ? Timestamp.now : Timestamp.coerce(provided)
      rescue TimestampParserError
        @data[TIMESTAMP] = Timestamp.now
        tag("_timestampparsefailure")
        @data["_@timestamp"] = provided
      end
    end

    # ext/JrubyEventExtLibrary.java ruby_get_field: a deep copy (Rubyfier.deep), so changing
    # what get returned never changes the event.
    def get(reference)
      path = LogStash.tokenize(reference)
      root, path = path.first == METADATA ? [@metadata, path.drop(1)] : [@data, path]
      value = path.reduce(root) do |node, key|
        case node
        when Hash then node[key]
        when Array then key =~ /\A-?\d+\z/ ? node[key.to_i] : nil
        end
      end
      deep_copy(value)
    end

    # ruby_set_field: "@timestamp" takes a LogStash::Timestamp only (TypeError otherwise);
    # other values go through the Valuefier, which refuses types it cannot store.
    def set(reference, value)
      path = LogStash.tokenize(reference)
      if path == [TIMESTAMP]
        raise TypeError, "wrong argument type #{value.class} (expected LogStash::Timestamp)" unless value.is_a?(Timestamp)
        @data[TIMESTAMP] = value
        return value
      end
      check_storable(value)
      root, path = path.first == METADATA ? [@metadata, path.drop(1)] : [@data, path]
      if path.empty?
        raise TypeError, "@metadata must be a hash" unless value.is_a?(Hash)
        @metadata = deep_copy(value)
        return value
      end
      # org/logstash/Accessors.java: intermediate objects are created as maps; a non-map in
      # the way is an error ("Could not set field ... on object ...").
      parent = path[0..-2].reduce(root) do |node, key|
        raise ArgumentError, "Could not set field '#{key}' on object '#{node}'" unless node.is_a?(Hash)
        node[key] = {} if node[key].nil?
        node[key]
      end
      raise ArgumentError, "Could not set field '#{path.last}' on object '#{parent}'" unless parent.is_a?(Hash)
      parent[path.last] = deep_copy(value)
      value
    end

    def remove(reference)
      path = LogStash.tokenize(reference)
      root, path = path.first == METADATA ? [@metadata, path.drop(1)] : [@data, path]
      parent = path[0..-2].reduce(root) { |node, key| node.is_a?(Hash) ? node[key] : nil }
      parent.is_a?(Hash) ? parent.delete(path.last) : nil
    end

    def include?(reference)
      path = LogStash.tokenize(reference)
      root, path = path.first == METADATA ? [@metadata, path.drop(1)] : [@data, path]
      parent = path[0..-2].reduce(root) { |node, key| node.is_a?(Hash) ? node[key] : nil }
      parent.is_a?(Hash) && parent.key?(path.last)
    end

    # Event.java tag(): "tags" becomes a list if needed; a tag already there is not repeated.
    def tag(value)
      tags = @data["tags"]
      tags = tags.nil? ? [] : (tags.is_a?(Array) ? tags : [tags])
      tags << value unless tags.include?(value)
      @data["tags"] = tags
    end

    def timestamp
      @data[TIMESTAMP]
    end

    def timestamp=(value)
      raise TypeError, "wrong argument type #{value.class} (expected LogStash::Timestamp)" unless value.is_a?(Timestamp)
      @data[TIMESTAMP] = value
    end

    # ruby_to_hash: without "@metadata".
    def to_hash
      deep_copy(@data)
    end

    def to_hash_with_metadata
      deep_copy(@data).merge(METADATA => deep_copy(@metadata))
    end

    private

    STORABLE = [String, Integer, Float, TrueClass, FalseClass, NilClass, Timestamp].freeze

    # org/logstash/Valuefier.java: anything else is refused with "Missing Converter".
    def check_storable(value)
      case value
      when Hash
        value.each do |k, v|
          raise ArgumentError, "Missing Converter handling for key #{k.class}" unless k.is_a?(String)
          check_storable(v)
        end
      when Array then value.each { |v| check_storable(v) }
      else
        unless STORABLE.any? { |kind| value.is_a?(kind) }
          raise ArgumentError, "Missing Converter handling for full class name=#{value.class}"
        end
      end
    end

    def deep_copy(value)
      case value
      when Hash then value.each_with_object({}) { |(k, v), out| out[k] = deep_copy(v) }
      when Array then value.map { |v| deep_copy(v) }
      when String then value.dup
      else value
      end
    end
  end
end
